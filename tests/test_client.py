"""The typed control client: the URL and body of every call, and how refusals come back."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gitops_hive.client import ControlClient, api_path
from gitops_hive.config import default_config
from gitops_hive.errors import ERRORS_BY_CODE, ControllerUnavailable, HiveError, NotFound
from gitops_hive.web.jsonhttp import serve_unix_socket
from gitops_hive.web.limits import ListenerLimits


@dataclass
class FakeController:
    """A tiny app on a unix socket that records each request and answers as told."""

    socket_path: Path
    seen: list[tuple[str, str, Any]] = field(default_factory=list)
    status: int = 200
    reply: Any = field(default_factory=dict)
    text: str | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hold: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen.append((request.method, request.raw_path, json.loads(raw) if raw else None))
        if self.hold:
            await self.release.wait()
        if self.text is not None:
            return web.Response(status=self.status, text=self.text, content_type="text/plain")
        return web.json_response(self.reply, status=self.status)

    def client(self, timeout: float = 10.0) -> ControlClient:
        return ControlClient(self.socket_path, Path("/hive/root"), timeout=timeout)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder whose socket paths fit the 108 bytes a unix socket allows."""
    with tempfile.TemporaryDirectory(prefix="hive-client-") as tmp:
        yield Path(tmp)


@pytest.fixture
async def fake(short_dir: Path) -> AsyncIterator[FakeController]:
    controller = FakeController(short_dir / "control.sock")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", controller.handle)
    limits = ListenerLimits.of(default_config(), "control socket", "limits.web_connections")
    runner = await serve_unix_socket(app, controller.socket_path, limits)
    try:
        yield controller
    finally:
        controller.release.set()
        await runner.cleanup()


Call = Callable[[ControlClient], Any]

# (the call, the request it must make, what the controller answers)
CALLS: list[tuple[Call, str, str, Any, Any]] = [
    (lambda c: c.health(), "GET", "/api/health", None, {}),
    (lambda c: c.agents(), "GET", "/api/agents", None, []),
    (lambda c: c.agent("worker"), "GET", "/api/agents/worker", None, {}),
    (lambda c: c.draft("worker"), "POST", "/api/agents", {"name": "worker"}, {}),
    (
        lambda c: c.spawn("worker"),
        "POST",
        "/api/agents",
        {"name": "worker", "submit": True},
        {},
    ),
    (lambda c: c.history("worker"), "GET", "/api/agents/worker/history", None, []),
    (lambda c: c.stop("worker"), "POST", "/api/agents/worker/stop", {}, {}),
    (lambda c: c.start("worker"), "POST", "/api/agents/worker/start", {}, {}),
    (lambda c: c.submit("worker"), "POST", "/api/agents/worker/submit", {"ref": None}, {}),
    (
        lambda c: c.submit("worker", "feature/x"),
        "POST",
        "/api/agents/worker/submit",
        {"ref": "feature/x"},
        {},
    ),
    (lambda c: c.pending(), "GET", "/api/approvals?status=pending", None, []),
    (lambda c: c.approval(7), "GET", "/api/approvals/7", None, {}),
    (
        lambda c: c.approve(7, "abc1234"),
        "POST",
        "/api/approvals/7/approve",
        {"sha": "abc1234", "wait": True},
        {},
    ),
    (
        lambda c: c.approve(7, "abc1234", wait=False),
        "POST",
        "/api/approvals/7/approve",
        {"sha": "abc1234", "wait": False},
        {},
    ),
    (lambda c: c.deny(7, "not now"), "POST", "/api/approvals/7/deny", {"reason": "not now"}, {}),
    (lambda c: c.rollback("worker"), "POST", "/api/agents/worker/rollback", {"to": None}, {}),
    (
        lambda c: c.rollback("worker", "ab" * 20),
        "POST",
        "/api/agents/worker/rollback",
        {"to": "ab" * 20},
        {},
    ),
    (lambda c: c.resume("worker"), "POST", "/api/agents/worker/resume", {}, {}),
    (lambda c: c.model("worker"), "GET", "/api/agents/worker/model", None, {}),
    (
        lambda c: c.set_model("worker", "opus", "a harder task"),
        "POST",
        "/api/agents/worker/model",
        {"model": "opus", "reason": "a harder task"},
        {},
    ),
    (
        lambda c: c.clear_model("worker"),
        "POST",
        "/api/agents/worker/model",
        {"clear": True, "reason": None},
        {},
    ),
    (
        lambda c: c.send("worker", "hi there"),
        "POST",
        "/api/messages",
        {"to": "worker", "body": "hi there"},
        {},
    ),
    (lambda c: c.inbox("worker"), "GET", "/api/agents/worker/inbox?wait=0", None, {}),
    (lambda c: c.inbox("worker", 2.5), "GET", "/api/agents/worker/inbox?wait=2.5", None, {}),
    (lambda c: c.questions(), "GET", "/api/questions", None, []),
    (lambda c: c.questions(include_answered=True), "GET", "/api/questions?all=1", None, []),
    (lambda c: c.answer(3, "yes"), "POST", "/api/questions/3/answer", {"answer": "yes"}, {}),
    (lambda c: c.stats("worker"), "GET", "/api/stats?agent=worker", None, {}),
    (
        lambda c: c.stats("worker", since="24h", until="1h", keys=("turns", "tool:Bash")),
        "GET",
        "/api/stats?agent=worker&since=24h&until=1h&keys=turns%2Ctool%3ABash",
        None,
        {},
    ),
]


@pytest.mark.parametrize(("call", "method", "path", "body", "reply"), CALLS)
async def test_each_call_makes_its_request(
    fake: FakeController, call: Call, method: str, path: str, body: Any, reply: Any
) -> None:
    fake.reply = reply
    assert await asyncio.to_thread(call, fake.client()) == reply
    assert fake.seen == [(method, path, body)]


async def test_a_diff_comes_back_as_the_text_the_controller_rendered(
    fake: FakeController,
) -> None:
    fake.text = " prompt.md | 2 +-\n"
    diff = await asyncio.to_thread(fake.client().diff, 7, "previous", "stat")
    assert diff == " prompt.md | 2 +-\n"
    assert fake.seen == [("GET", "/api/approvals/7/diff?base=previous&format=stat", None)]


async def test_one_file_of_a_diff_is_asked_for_by_its_path(fake: FakeController) -> None:
    fake.text = "diff a/x b/x (modified)\n"
    await asyncio.to_thread(fake.client().diff, 7, "deployed", "patch", "tools/a b&c.sh")
    assert fake.seen == [
        (
            "GET",
            "/api/approvals/7/diff?base=deployed&format=patch&path=tools%2Fa+b%26c.sh",
            None,
        )
    ]


def test_path_parts_are_quoted_whole() -> None:
    assert api_path("agents", "a/b?c#d e", "model") == "/api/agents/a%2Fb%3Fc%23d%20e/model"
    assert api_path("approvals", 12) == "/api/approvals/12"
    assert (
        api_path("stats", query={"agent": "x&y=z", "since": None}) == "/api/stats?agent=x%26y%3Dz"
    )


async def test_a_name_with_a_slash_stays_one_path_part_on_the_wire(fake: FakeController) -> None:
    await asyncio.to_thread(fake.client().agent, "../approvals")
    assert fake.seen == [("GET", "/api/agents/..%2Fapprovals", None)]


@pytest.mark.parametrize(("code", "error_type"), sorted(ERRORS_BY_CODE.items()))
async def test_a_refusal_raises_the_error_its_code_names(
    fake: FakeController, code: str, error_type: type[HiveError]
) -> None:
    fake.status, fake.reply = error_type.status, {"error": "refused, and why", "code": code}
    with pytest.raises(HiveError) as raised:
        await asyncio.to_thread(fake.client().agent, "worker")
    assert type(raised.value) is error_type
    assert raised.value.message == "refused, and why"


async def test_an_unknown_code_is_a_plain_hive_error(fake: FakeController) -> None:
    fake.status, fake.reply = 418, {"error": "teapot", "code": "from_the_future"}
    with pytest.raises(HiveError) as raised:
        await asyncio.to_thread(fake.client().pending)
    assert type(raised.value) is HiveError
    assert raised.value.message == "teapot"


async def test_a_refusal_without_a_message_names_the_status(fake: FakeController) -> None:
    fake.status, fake.reply = 404, {"code": "not_found"}
    with pytest.raises(NotFound, match=r"^HTTP 404$"):
        await asyncio.to_thread(fake.client().approval, 1)


async def test_a_plain_text_failure_is_one_line(fake: FakeController) -> None:
    fake.status, fake.text = 502, "bad gateway\n"
    with pytest.raises(HiveError) as raised:
        await asyncio.to_thread(fake.client().health)
    assert raised.value.message == "bad gateway"


async def test_an_answer_of_the_wrong_shape_is_refused(fake: FakeController) -> None:
    fake.reply = {"not": "a list"}
    with pytest.raises(HiveError, match="/api/agents"):
        await asyncio.to_thread(fake.client().agents)
    fake.reply = ["not", "an object"]
    with pytest.raises(HiveError, match="/api/health"):
        await asyncio.to_thread(fake.client().health)
    fake.reply = {"files": []}
    with pytest.raises(HiveError, match="not text"):
        await asyncio.to_thread(fake.client().diff, 1)


async def test_a_slow_controller_is_reported_after_the_timeout(fake: FakeController) -> None:
    fake.hold = True
    with pytest.raises(HiveError, match=r"did not answer within 0\.2s"):
        await asyncio.to_thread(fake.client(timeout=0.2).health)


def test_no_socket_means_no_controller(short_dir: Path) -> None:
    client = ControlClient(short_dir / "control.sock", Path("/hive/root"))
    with pytest.raises(ControllerUnavailable) as raised:
        client.agents()
    assert raised.value.message == (
        "no controller is running for /hive/root: start one with `hivectl --root /hive/root serve`"
    )


def test_a_stale_socket_means_no_controller(short_dir: Path) -> None:
    path = short_dir / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # bound, never listening: what a killed controller leaves
    with pytest.raises(ControllerUnavailable):
        ControlClient(path, Path("/hive/root")).health()
