"""A missing or failing agent CLI: the turn is counted with its error, the agent shows
`failing: REASON`, and the messages it never read go back to its inbox."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gitops_hive.agent.harness import FAILED_TURN_BACKOFF, next_backoff
from gitops_hive.agent.tally import Tally
from gitops_hive.agent.turn import AgentSetup, missing_cli, run_turn
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.protocol import TurnEnd
from gitops_hive.store import queries
from gitops_hive.telemetry import failing
from gitops_hive.web.agent_api import make_agent_app
from tests.conftest import SCRIPTED_CLI, ServedHive, make_root, serving, started_hive, with_harness
from tests.test_harness import deploy, stats

Client = TestClient[Any, Any]
MESSAGES = [
    {"id": 7, "from": "operator", "kind": "message", "body": "index the docs", "data": {}},
    {"id": 9, "from": "manager", "kind": "message", "body": "and the tests", "data": {}},
]


def setup_with(command: list[str], state: Path) -> AgentSetup:
    return AgentSetup(
        command=command,
        model="haiku",
        system_prompt="You index.",
        allowed_tools=(),
        mcp_config=state / "mcp.json",
        state=state,
    )


async def test_a_missing_cli_is_a_counted_failure_that_hands_the_messages_back(
    tmp_path: Path,
) -> None:
    end = await run_turn(setup_with(["no-such-claude", "-p"], tmp_path), MESSAGES, 10)
    assert end.exit_code == 127
    assert end.error == "agent CLI 'no-such-claude' not found"
    assert end.returned == (7, 9)
    assert end.model == "haiku"  # the configured one: the controller records the turn
    assert end.messages_in == 2 and end.received == {"operator": 1, "manager": 1}


async def test_a_cli_that_fails_before_answering_hands_the_messages_back(tmp_path: Path) -> None:
    script = [sys.executable, "-c", "import sys; print('Invalid API key'); sys.exit(1)"]
    end = await run_turn(setup_with(script, tmp_path), MESSAGES, 10)
    assert end.exit_code == 1
    assert end.error == f"agent CLI {sys.executable!r} exited with status 1"
    assert end.returned == (7, 9)


async def test_a_turn_stopped_midway_ends_its_cli(tmp_path: Path) -> None:
    pid_file = tmp_path / "cli.pid"
    script = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    ]
    turn = asyncio.create_task(run_turn(setup_with(script, tmp_path), MESSAGES, 120))
    async with asyncio.timeout(30):
        while not pid_file.exists() or not pid_file.read_text():  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    turn.cancel()  # the harness stops
    with pytest.raises(asyncio.CancelledError):
        await turn
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


async def test_a_cli_that_failed_after_answering_keeps_the_messages_read(tmp_path: Path) -> None:
    answered = '{"type": "assistant", "message": {"content": [{"type": "text", "text": "ok"}]}}'
    script = [sys.executable, "-c", f"import sys; print({answered!r}); sys.exit(2)"]
    end = await run_turn(setup_with(script, tmp_path), MESSAGES, 10)
    assert end.exit_code == 2 and "exited with status 2" in end.error
    assert end.returned == ()  # the model saw them: running them again could repeat its work


def test_only_an_assistant_event_counts_as_answered() -> None:
    tally = Tally("manager")
    tally.feed('{"type": "system", "subtype": "init"}\n')
    tally.feed("not json\n")
    assert not tally.answered
    tally.feed('{"type": "assistant", "message": {"content": []}}\n')
    assert tally.answered


def test_the_backoff_doubles_while_messages_go_back_and_resets_after() -> None:
    first, cap = FAILED_TURN_BACKOFF
    failed = TurnEnd(0.1, 127, returned=(1,))
    waits = [first]
    while waits[-1] < cap:
        waits.append(next_backoff(failed, waits[-1]))
    assert waits[:3] == [first, 2 * first, 4 * first] and waits[-1] == cap
    assert next_backoff(failed, cap) == cap
    assert next_backoff(failed, 0.0) == first
    assert next_backoff(TurnEnd(0.1, 0), cap) == 0.0
    assert next_backoff(TurnEnd(0.1, 3), cap) == 0.0  # it read them: no reason to wait


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Hive]:
    opened = await started_hive(HiveLayout(make_root(tmp_path / "hive")))
    await opened.draft("worker")
    await opened.draft("other")
    try:
        yield opened
    finally:
        await opened.close()


async def inbox_of(hive: Hive, name: str) -> list[str]:
    return [m.body for m in (await hive.ctx.broker.peek(name, 0)).messages]


async def test_a_failed_turn_sets_failing_hands_back_only_its_own_and_a_good_one_clears(
    hive: Hive, aiohttp_client: Any
) -> None:
    broker = hive.ctx.broker
    mine = await broker.send("operator", "worker", "index the docs")
    theirs = await broker.send("operator", "other", "not yours")
    async with broker.receive("worker", 0) as delivery:
        assert [m.id for m in delivery.messages] == [mine.id]
    async with broker.receive("other", 0) as delivery:
        assert [m.id for m in delivery.messages] == [theirs.id]
    agent: Client = await aiohttp_client(make_agent_app(hive.agent_calls("worker"), os.getuid()))

    failed = TurnEnd(0.2, 127, messages_in=1, model="", error="agent CLI 'claude' not found")
    body = {**failed.to_json(), "returned": [mine.id, theirs.id]}
    response = await agent.post("/v1/turns", json=body)
    assert response.status == 201, await response.text()
    assert await inbox_of(hive, "worker") == ["index the docs"]
    assert await inbox_of(hive, "other") == []  # another agent's message stays read
    # Only what a turn can have taken: a message read long before stays read.
    old = await broker.send("operator", "worker", "long done")
    async with broker.receive("worker", 0) as delivery:
        assert old.id in [m.id for m in delivery.messages]
    with sqlite3.connect(hive.ctx.layout.db) as db:
        db.execute(
            "UPDATE messages SET delivered_at = delivered_at - 86400 WHERE id = ?", (old.id,)
        )
    stale = {**failed.to_json(), "returned": [old.id]}
    assert (await agent.post("/v1/turns", json=stale)).status == 201
    assert "long done" not in await inbox_of(hive, "worker")
    view = await hive.agent("worker")
    assert view["failing"] == "agent CLI 'claude' not found"
    await hive.ctx.stats.flush()
    with sqlite3.connect(hive.ctx.layout.db) as db:
        rows = dict(db.execute("SELECT key, value FROM stats WHERE agent = 'worker'").fetchall())
    assert rows["turns"] == 1 and rows["exit:failure"] == 1 and rows["exit_code"] == 127

    # The same failure again is no new event; a good turn clears it with one.
    assert (await agent.post("/v1/turns", json=body)).status == 201
    assert (await agent.post("/v1/turns", json=TurnEnd(1.0, 0, model="haiku").to_json())).status
    assert (await hive.agent("worker"))["failing"] is None
    events = [e.kind for e in await queries.list_events(hive.ctx.db, agent="worker")]
    assert events.count("agent_failing") == 1 and events.count("agent_turns_ok") == 1


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("error", "line one\nline two", "one line without control or bidi characters"),
        ("error", "x" * 301, "at most 300 characters"),
        ("error", "\u202eevil", "one line without control or bidi characters"),
        ("returned", [1, "2"], "message ids"),
        ("returned", list(range(1, 300)), "at most 200 message ids"),
        ("returned", "1,2", "at most 200 message ids"),
    ],
)
async def test_a_bad_error_or_returned_list_is_refused(
    hive: Hive, aiohttp_client: Any, field: str, value: Any, error: str
) -> None:
    agent: Client = await aiohttp_client(make_agent_app(hive.agent_calls("worker"), os.getuid()))
    body = {**TurnEnd(0.2, 1).to_json(), field: value}
    response = await agent.post("/v1/turns", json=body)
    assert response.status == 400 and error in (await response.json())["error"]
    assert (await hive.agent("worker"))["failing"] is None


def test_a_cli_missing_from_the_path_is_named_before_any_turn(tmp_path: Path) -> None:
    assert missing_cli(setup_with(["no-such-claude"], tmp_path)) == (
        "agent CLI 'no-such-claude' not found"
    )
    assert missing_cli(setup_with([str(tmp_path / "claude")], tmp_path)) is not None
    assert missing_cli(setup_with(["sh", "-c", "true"], tmp_path)) is None
    assert missing_cli(setup_with(["{python}", "-m", "x"], tmp_path)) is None  # filled in


async def test_the_harness_can_say_it_is_failing_before_a_turn(
    hive: Hive, aiohttp_client: Any
) -> None:
    agent: Client = await aiohttp_client(make_agent_app(hive.agent_calls("worker"), os.getuid()))
    response = await agent.post("/v1/failing", json={"reason": "agent CLI 'claude' not found"})
    assert response.status == 201
    assert (await hive.agent("worker"))["failing"] == "agent CLI 'claude' not found"
    for bad in ({"reason": ""}, {"reason": "a\nb"}, {"reason": 3}, {}):
        response = await agent.post("/v1/failing", json=bad)
        assert response.status == 400, bad
    assert (await agent.post("/v1/turns", json=TurnEnd(1.0, 0).to_json())).status == 201
    assert (await hive.agent("worker"))["failing"] is None


@pytest.fixture
def missing_cli_hive(tmp_path: Path) -> Iterator[tuple[ServedHive, Path]]:
    """A served hive whose harness runs an agent CLI that does not exist yet."""
    root = make_root(tmp_path / "hive")
    cli = tmp_path / "bin" / "claude"
    config = root / "hive.toml"
    config.write_text(with_harness(config.read_text(), f'["{cli}", "--model", "{{model}}"]'))
    with serving(root) as hive:
        yield hive, cli


def install_cli(path: Path) -> None:
    """The agent CLI appears: a wrapper running the scripted agent's turn."""
    argv = SCRIPTED_CLI.strip("[]").replace('"', "").split(", ")
    argv[0] = sys.executable
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {" ".join(argv[:-2])} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_missing_agent_cli_shows_failing_keeps_the_message_and_recovers(
    missing_cli_hive: tuple[ServedHive, Path],
) -> None:
    served, cli = missing_cli_hive
    deploy(served, "manager")
    deploy(served, "worker")

    def failing() -> dict[str, Any] | None:
        worker = next(a for a in served.json("agents") if a["name"] == "worker")
        return worker if worker["status"] == "failing" else None

    # The harness says so as it starts, before any message.
    worker = served.wait_for(failing, timeout=30, what="the worker failing at start")
    assert worker["failing"] == f"agent CLI {str(cli)!r} not found"
    assert "turns" not in stats(served.root, "worker")
    assert served.cli("send", "worker", "build the index").returncode == 0
    listed = served.cli("agents")
    assert f"worker is failing: agent CLI {str(cli)!r} not found" in listed.stdout
    # The message went back: the operator's view of the inbox still holds it.
    served.wait_for(
        lambda: (
            [m["body"] for m in served.json("recv", "worker")["messages"]] == ["build the index"]
        ),
        what="the message back in the inbox",
    )
    figures = served.wait_for(
        lambda: "turns" in (f := stats(served.root, "worker")) and f, what="the failed turn"
    )
    assert figures["exit:failure"] >= 1 and figures["exit_code"] >= 127

    install_cli(cli)

    def handled() -> bool:
        with sqlite3.connect(served.root / "hive.db") as db:
            rows = db.execute(
                "SELECT body FROM messages WHERE sender = 'worker' AND recipient = 'manager'"
            ).fetchall()
        return any(body.endswith(": build the index") for (body,) in rows)

    served.wait_for(handled, timeout=60, what="the message handled once the CLI is there")
    served.wait_for(lambda: not failing(), timeout=10, what="failing cleared")
    assert served.json("recv", "worker")["messages"] == []
    assert stats(served.root, "worker")["exit:ok"] == 1
    log = served.layout.agent("worker").log.read_text()
    assert "they go back to the inbox; next try in 2s" in log


async def test_failing_is_shown_again_after_a_restart_and_a_recovery_stays_cleared(
    tmp_path: Path,
) -> None:
    layout = HiveLayout(make_root(tmp_path / "hive"))
    hive = await started_hive(layout)
    try:
        for name in ("worker", "other", "quiet"):
            await hive.draft(name)
        await failing.mark_failing(hive.ctx, "worker", "a turn failed with exit status 2")
        await failing.mark_failing(hive.ctx, "worker", "agent CLI 'claude' not found")
        await failing.mark_failing(hive.ctx, "other", "agent CLI 'claude' not found")
        await failing.record_turn(hive.ctx, "other", 0, "")
    finally:
        await hive.close()
    hive = await started_hive(layout)
    try:
        reasons = {n: failing.failing_reason(hive.ctx, n) for n in ("worker", "other", "quiet")}
        assert reasons == {"worker": "agent CLI 'claude' not found", "other": None, "quiet": None}
    finally:
        await hive.close()
