"""The turn harness: recv -> agent CLI -> TurnEnd, with the scripted agent as the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.agent.harness import setup_from_env
from gitops_hive.agent.prompts import prompts_dir
from gitops_hive.agent.tally import Tally, received_kinds
from gitops_hive.agent.turn import AgentSetup, agent_argv, turn_prompt
from gitops_hive.protocol import AgentEnvironment
from tests.conftest import ServedHive


def deploy(served: ServedHive, name: str) -> None:
    assert served.cli("spawn", name).returncode == 0
    pending = served.pending_for(name)
    assert pending is not None
    assert served.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0


def stats(root: Path, agent: str) -> dict[str, float]:
    with sqlite3.connect(root / "hive.db") as db:
        rows = db.execute(
            "SELECT key, sum(value) FROM stats WHERE agent = ? GROUP BY key", (agent,)
        )
        return {key: value for key, value in rows}


@pytest.mark.e2e
def test_a_message_runs_one_turn_and_records_turn_end(harness_hive: ServedHive) -> None:
    deploy(harness_hive, "manager")
    deploy(harness_hive, "worker")
    assert harness_hive.cli("send", "worker", "build the index").returncode == 0

    def delivered_acks() -> list[str]:
        with sqlite3.connect(harness_hive.root / "hive.db") as db:
            rows = db.execute(
                "SELECT body FROM messages WHERE sender = 'worker' AND recipient = 'manager'"
                " AND delivered_at IS NOT NULL"
            )
            return [body for (body,) in rows]

    # The worker's turn acknowledges to the manager, whose own harness takes the message.
    bodies = harness_hive.wait_for(delivered_acks, timeout=20, what="the worker's ack")
    assert len(bodies) == 1 and bodies[0].endswith(": build the index")
    manager_log = harness_hive.layout.agent("manager").log
    harness_hive.wait_for(
        lambda: "from ['worker']" in manager_log.read_text(), what="the manager's turn"
    )
    figures = harness_hive.wait_for(
        lambda: "turns" in (f := stats(harness_hive.root, "worker")) and f,
        timeout=10,
        what="TurnEnd rows",
    )
    assert figures["turns"] == 1
    assert figures["messages_in"] == 1
    assert figures["messages_out"] == 1
    assert figures["tool:mcp__hive__send"] == 1
    assert figures["in:operator"] == 1 and figures["out:manager"] == 1
    assert figures["exit_code"] == 0 and figures["exit:ok"] == 1
    assert "exit:failure" not in figures
    assert figures["notes_bytes"] > 0
    notes = harness_hive.layout.agent("worker").state / "notes.md"
    assert "1 message(s)" in notes.read_text()
    log = harness_hive.layout.agent("worker").log.read_text()
    assert "harness ready" in log and "turn ended: exit 0" in log


def test_agent_argv_fills_every_placeholder(tmp_path: Path) -> None:
    setup = AgentSetup(
        command=[
            "claude",
            "--model",
            "{model}",
            "--allowedTools",
            "{allowed_tools}",
            "--mcp-config",
            "{mcp_config}",
            "--append-system-prompt",
            "{system_prompt}",
        ],
        model="opus",
        system_prompt="be kind",
        allowed_tools=("Bash(git *)", "mcp__hive"),
        mcp_config=tmp_path / "mcp.json",
        state=tmp_path,
    )
    assert agent_argv(setup) == [
        "claude",
        "--model",
        "opus",
        "--allowedTools",
        "Bash(git *)",  # each entry its own argument, never joined
        "mcp__hive",
        "--mcp-config",
        str(tmp_path / "mcp.json"),
        "--append-system-prompt",
        "be kind",
    ]


def test_tool_calls_and_sends_are_tallied_from_stream_json() -> None:
    tally = Tally(manager="boss")
    lines = [
        '{"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash"},'
        ' {"type": "text", "text": "hi"}, {"type": "tool_use", "name": "mcp__hive__send",'
        ' "input": {"to": "boss", "body": "done"}}]}}',
        '{"type": "user", "message": {"content": [{"type": "tool_result"}]}}',
        "not json at all",
        '{"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash"},'
        ' {"type": "tool_use", "name": "send", "input": {"to": "worker-2"}},'
        ' {"type": "tool_use", "name": "mcp__hive__ask_operator", "input": {"question": "?"}},'
        ' {"type": "tool_use", "name": "mcp__hive__recv", "input": {"to": "boss"}}]}}',
    ]
    for line in lines:
        tally.feed(line)
    assert tally.tools == {
        "Bash": 2,
        "mcp__hive__send": 1,
        "send": 1,
        "mcp__hive__ask_operator": 1,
        "mcp__hive__recv": 1,
    }
    assert tally.sent == {"manager": 1, "peer": 1, "operator": 1}


def test_received_messages_are_counted_by_sender_kind() -> None:
    senders = ["operator", "hive", "boss", "worker-2", "worker-3", "operator"]
    assert received_kinds(senders, manager="boss") == {
        "operator": 2,
        "system": 1,
        "manager": 1,
        "peer": 2,
    }
    assert received_kinds([], manager="boss") == {}


def test_turn_prompt_names_each_message() -> None:
    text = turn_prompt(
        [{"id": 7, "from": "hive", "kind": "approval_denied", "body": "no", "data": {"a": 1}}]
    )
    assert "--- message #7 from hive (kind: approval_denied)\nno" in text
    assert '"a": 1' in text


class WhoamiOnly:
    """The one socket call setup makes, answered as the hive would for a worker."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    async def whoami(self) -> dict[str, Any]:
        return {"name": "worker", "role": "agent", "manager": "boss", "recipients": []}


async def test_the_setup_comes_from_the_environment_not_from_agent_toml(tmp_path: Path) -> None:
    tree, state = tmp_path / "tree", tmp_path / "state"
    tree.mkdir()
    state.mkdir()
    (tree / "prompt.md").write_text("Index the docs.\n")
    (tree / "agent.toml").write_text("not toml at all [[[")  # the controller validated it
    environment = AgentEnvironment(
        tree=tree,
        state=state,
        model="haiku",
        agent_command=("claude", "-p"),
        compact_command=("claude", "--compact"),
        notes_limit=500,
        allowed_tools=("Bash(git *)",),
    )
    setup = await setup_from_env(WhoamiOnly(tmp_path / "hive.sock"), environment)
    assert setup.command == ["claude", "-p"] and setup.model == "haiku"
    assert setup.allowed_tools == ("Bash(git *)", "mcp__hive")
    assert setup.compact_command == ("claude", "--compact") and setup.notes_limit == 500
    assert setup.manager == "boss" and setup.state == state
    shared = (prompts_dir() / "agent.md").read_text().strip()
    assert setup.system_prompt.startswith(shared) and "Index the docs." in setup.system_prompt
    assert str(tmp_path / "hive.sock") in setup.mcp_config.read_text()
