"""hive-mcp driven by the MCP SDK's own client over stdio, against a real controller."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import ServedHive
from tests.repo_factory import git

pytestmark = pytest.mark.e2e

EVERY_AGENT = {"send", "recv", "whoami"}
MANAGER_ONLY = {
    "request_apply_commit",
    "request_spawn",
    "request_spawn_draft",
    "request_spawn_commit",
    "ask_operator",
    "list_agents",
    "list_pending",
}


@asynccontextmanager
async def mcp_session(served: ServedHive, agent: str) -> AsyncIterator[ClientSession]:
    """hive-mcp as the agent's container runs it: a subprocess speaking MCP on stdio."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "gitops_hive.agent.mcp"],
        env={"HIVE_SOCKET": str(served.layout.agent(agent).socket)},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def payload(result: Any) -> Any:
    """The JSON a successful tool call returned."""
    assert not result.is_error, result.content
    data = result.structured_content  # every tool has an output schema
    assert data is not None, result.content
    return data.get("result", data) if set(data) == {"result"} else data


def error_text(result: Any) -> str:
    assert result.is_error, result.content
    return str(result.content[0].text)


def deploy(served: ServedHive, name: str) -> str:
    assert served.cli("spawn", name).returncode == 0
    pending = served.pending_for(name)
    assert pending is not None
    assert served.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0
    return str(pending["head"])


def closed_schemas(schema: Any) -> list[str]:
    """Where a JSON schema leaves an object open (`additionalProperties: true` or no
    properties listed), by path."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is True:
                found.append(f"{path}: additionalProperties true")
            if node.get("type") == "object" and not (
                node.get("properties") or isinstance(node.get("additionalProperties"), dict)
            ):
                found.append(f"{path}: no properties")
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(schema, "")
    return found


async def test_each_caller_is_offered_only_its_tools_with_typed_output(
    served: ServedHive,
) -> None:
    deploy(served, "manager")
    deploy(served, "worker")
    async with mcp_session(served, "worker") as session:
        offered = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(offered) == EVERY_AGENT
    async with mcp_session(served, "manager") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == EVERY_AGENT | MANAGER_ONLY
    for tool in tools.values():
        assert tool.description and len(tool.description) > 20
        assert tool.input_schema["type"] == "object"
        schema = tool.output_schema
        assert schema is not None and schema["type"] == "object" and schema["properties"]
        assert closed_schemas(schema) == [], tool.name
    assert set(tools["send"].input_schema["required"]) == {"to", "body"}
    assert "180" in tools["recv"].description + json.dumps(tools["recv"].input_schema)
    for name in MANAGER_ONLY:
        assert "Manager only" in (tools[name].description or "")
    assert tools["whoami"].output_schema["properties"]["tools"]["type"] == "array"


async def test_a_bad_argument_is_one_line_naming_it(served: ServedHive) -> None:
    deploy(served, "manager")
    deploy(served, "worker")
    async with mcp_session(served, "worker") as worker:
        wrong_type = error_text(await worker.call_tool("send", {"to": 7, "body": "hi"}))
        missing = error_text(await worker.call_tool("send", {"to": "manager"}))
        negative = error_text(await worker.call_tool("recv", {"wait_seconds": -1}))
    for text in (wrong_type, missing, negative):
        assert "\n" not in text and "http" not in text and "pydantic" not in text, text
    assert "argument `to`: expected a string (an agent's name" in wrong_type
    assert "`body`" not in wrong_type
    assert "argument `body` is missing: expected a string" in missing
    assert "argument `wait_seconds`: expected a number of at least 0" in negative


async def test_refusals_name_the_tool_to_use_not_hivectl(served: ServedHive) -> None:
    deploy(served, "manager")
    deploy(served, "worker")
    async with mcp_session(served, "worker") as worker:
        stranger = error_text(await worker.call_tool("send", {"to": "ghost", "body": "hi"}))
        forced = error_text(await worker.call_tool("list_agents", {}))
    async with mcp_session(served, "manager") as manager:
        unknown = error_text(
            await manager.call_tool("request_apply_commit", {"agent": "ghost", "sha": "main"})
        )
        nobody = error_text(await manager.call_tool("send", {"to": "ghost", "body": "hi"}))
        no_branch = error_text(
            await manager.call_tool("request_apply_commit", {"agent": "worker", "sha": "nope"})
        )
    for text in (stranger, forced, unknown, nobody, no_branch):
        assert "hivectl" not in text, text
    assert "whoami lists whom you may message" in stranger
    assert "manager only" in forced and "send(to='manager'" in forced  # the controller's word
    assert "request_spawn_draft('ghost')" in unknown and "list_agents" in unknown
    assert "list_agents lists them" in nobody
    assert "no commit 'nope'" in no_branch


async def test_apply_commit_takes_a_branch_and_pins_its_sha(served: ServedHive) -> None:
    deploy(served, "manager")
    deploy(served, "worker")
    repo = served.proposed("worker")
    git(repo, "checkout", "-qb", "shorter")
    (repo / "prompt.md").write_text("Be brief.\n")
    git(repo, "commit", "-qam", "Shorter prompt")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    async with mcp_session(served, "manager") as manager:
        applied = payload(
            await manager.call_tool("request_apply_commit", {"agent": "worker", "sha": "shorter"})
        )
    assert applied["head"] == head and f"shorter resolved to {head}" in applied["next"]
    assert served.pending_for("worker")["head"] == head  # type: ignore[index]


async def test_worker_sends_receives_and_is_refused_manager_tools(served: ServedHive) -> None:
    deploy(served, "manager")
    deploy(served, "worker")
    async with mcp_session(served, "worker") as worker:
        me = payload(await worker.call_tool("whoami", {}))
        assert me["name"] == "worker" and me["role"] == "agent"
        assert me["recipients"] == ["manager"]
        sent = payload(await worker.call_tool("send", {"to": "manager", "body": "job done"}))
        assert sent["to"] == "manager"
        refused = error_text(await worker.call_tool("request_spawn", {"name": "scout"}))
        assert "manager only" in refused and "send" in refused
        assert served.cli("agents", "--json").stdout.count('"name"') == 2  # nothing spawned
        not_allowed = error_text(await worker.call_tool("send", {"to": "worker", "body": "x"}))
        assert "may not message worker" in not_allowed
        clamped = payload(await worker.call_tool("recv", {"wait_seconds": 0}))
        assert clamped["messages"] == []
    inbox = served.json("recv", "manager")
    bodies = [m["body"] for m in inbox["messages"] if m["kind"] == "message"]
    assert bodies == ["job done"]


async def test_manager_tools_reach_the_controller(served: ServedHive) -> None:
    deploy(served, "manager")
    worker_head = deploy(served, "worker")
    async with mcp_session(served, "manager") as manager:
        me = payload(await manager.call_tool("whoami", {}))
        assert me["role"] == "manager"
        names = {a["name"] for a in payload(await manager.call_tool("list_agents", {}))}
        assert names == {"manager", "worker"}

        spawned = payload(await manager.call_tool("request_spawn", {"name": "scout"}))
        assert spawned["agent"] == "scout" and spawned["kind"] == "spawn"
        assert "inbox" in spawned["next"]

        draft = payload(await manager.call_tool("request_spawn_draft", {"name": "helper"}))
        assert draft["status"] == "draft"
        head = git(served.proposed("helper"), "rev-parse", "HEAD")
        queued = payload(
            await manager.call_tool("request_spawn_commit", {"name": "helper", "sha": head})
        )
        assert queued["head"] == head and queued["kind"] == "spawn"

        worker_repo = served.proposed("worker")
        (worker_repo / "prompt.md").write_text("Be brief.\n")
        git(worker_repo, "commit", "-qam", "Shorter prompt")
        new_head = git(worker_repo, "rev-parse", "HEAD")
        applied = payload(
            await manager.call_tool("request_apply_commit", {"agent": "worker", "sha": new_head})
        )
        assert applied["head"] == new_head and applied["base"] == worker_head

        wrong = error_text(
            await manager.call_tool("request_apply_commit", {"agent": "helper", "sha": head})
        )
        assert "request_spawn_commit" in wrong

        pending = payload(await manager.call_tool("list_pending", {}))
        assert {p["agent"] for p in pending} == {"scout", "helper", "worker"}

        asked = payload(
            await manager.call_tool(
                "ask_operator", {"question": "Ship on Friday?", "options": ["yes", "no"]}
            )
        )
        questions = served.json("questions")
        assert [q["id"] for q in questions] == [asked["id"]]
        assert questions[0]["options"] == ["yes", "no"]
        assert served.cli("answer", str(asked["id"]), "yes").returncode == 0

        got = payload(await manager.call_tool("recv", {"wait_seconds": 5}))
        answers = [m for m in got["messages"] if m["kind"] == "answer"]
        assert [a["body"] for a in answers] == ["yes"]
        assert answers[0]["data"]["question_id"] == asked["id"]
