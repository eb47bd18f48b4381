"""Rate-limited logging: a line a peer can cause at will is written once a second at most,
and what was held back is counted."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gitops_hive.web import log_throttle
from gitops_hive.web.log_throttle import LogThrottle, throttle_loggers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def lines(records: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in records.records if r.name == name]


def test_the_first_line_is_written_the_rest_of_its_second_counted(
    records: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("t.first"), clock=clock)
    for n in range(1000):
        throttle.log("accept", logging.WARNING, "accept failed: %s", f"EMFILE {n}")
    assert lines(records, "t.first") == ["accept failed: EMFILE 0"]
    clock.now += 1.0
    throttle.log("accept", logging.WARNING, "accept failed: %s", "EMFILE 1000")
    assert lines(records, "t.first") == [
        "accept failed: EMFILE 0",
        "accept failed: EMFILE 999 (999 like it in the last 1 s)",
    ]
    throttle.flush()
    assert lines(records, "t.first")[-1] == "accept failed: EMFILE 1000 (1 like it in the last 1 s)"


def test_keys_are_throttled_apart(records: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger("t.keys"), clock=Clock())
    for _ in range(10):
        throttle.log(("over cap", "agent a"), logging.WARNING, "a refused")
        throttle.log(("over cap", "agent b"), logging.WARNING, "b refused")
    assert lines(records, "t.keys") == ["a refused", "b refused"]


def test_keys_past_the_bound_share_one(
    records: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_throttle, "MAX_KEYS", 8)
    throttle = LogThrottle(logging.getLogger("t.bound"), clock=Clock())
    for n in range(1000):
        throttle.log(("peer", n), logging.INFO, "peer %d went away", n)
    assert len(throttle._windows) <= 9
    assert len(lines(records, "t.bound")) == 9


async def test_held_lines_are_said_when_the_second_ends(records: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger("t.timer"), interval=0.05)
    for _ in range(5):
        throttle.log("reset", logging.INFO, "caller hung up")
    await asyncio.sleep(0.2)
    assert lines(records, "t.timer") == [
        "caller hung up",
        "caller hung up (4 like it in the last 0.05 s)",
    ]
    assert throttle._windows == {}  # a quiet key is forgotten


def test_foreign_loggers_pass_one_line_of_a_kind_a_second(
    records: pytest.LogCaptureFixture,
) -> None:
    throttle = LogThrottle(logging.getLogger("t.summary"), clock=Clock())
    throttle_loggers(throttle, "t.asyncio")
    throttle_loggers(throttle, "t.asyncio")  # once, however often it is called
    foreign = logging.getLogger("t.asyncio")
    for fd in range(500):
        foreign.error("socket.accept() out of system resource\nsocket: fd=%d", fd)
    foreign.error("Task exception was never retrieved")
    assert len(lines(records, "t.asyncio")) == 2
    throttle.flush()
    assert lines(records, "t.summary") == [
        "t.asyncio: socket.accept() out of system resource (499 like it in the last 1 s)"
    ]
