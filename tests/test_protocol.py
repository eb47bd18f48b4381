"""The wire contract both sides share, and an agent side that loads none of the controller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_hive.protocol import CONTAINER_SOCKET, AgentEnvironment, Route, TurnEnd

ENVIRONMENT = AgentEnvironment(
    agent="worker",
    commit="0123456789abcdef0123456789abcdef01234567",
    tree=Path("/hive/agents/worker/run/trees/0123"),
    state=Path("/hive/agents/worker/state"),
    socket=Path("/hive/agents/worker/run/hive/hive.sock"),
    model="opus",
    agent_command=("claude", "-p", "--model", "{model}"),
    turn_timeout=90.5,
    compact_command=("claude", "-p"),
    notes_limit=4096,
    allowed_tools=("Bash(git *)", "Read"),
)

# Imported in a fresh interpreter: everything under gitops_hive/agent/, then sys.modules.
IMPORT_THE_AGENT_SIDE = """
import json, pkgutil, sys, importlib
import gitops_hive.agent
for module in pkgutil.iter_modules(gitops_hive.agent.__path__, "gitops_hive.agent."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""
CONTROLLER_LIBRARIES = ("aiosqlite", "pygit2", "jeepney", "tomlkit", "pygments", "aiohttp_jinja2")


def test_the_environment_round_trips() -> None:
    assert AgentEnvironment.from_environ(ENVIRONMENT.to_environ()) == ENVIRONMENT
    assert AgentEnvironment.from_environ(AgentEnvironment().to_environ()) == AgentEnvironment()


def test_the_environment_keeps_the_names_and_encodings_hives_rely_on() -> None:
    assert ENVIRONMENT.to_environ() == {
        "HIVE_AGENT": "worker",
        "HIVE_COMMIT": "0123456789abcdef0123456789abcdef01234567",
        "HIVE_TREE": "/hive/agents/worker/run/trees/0123",
        "HIVE_STATE": "/hive/agents/worker/state",
        "HIVE_SOCKET": "/hive/agents/worker/run/hive/hive.sock",
        "HIVE_MODEL": "opus",
        "HIVE_AGENT_COMMAND": '["claude", "-p", "--model", "{model}"]',
        "HIVE_TURN_TIMEOUT": "90.5",
        "HIVE_COMPACT_COMMAND": '["claude", "-p"]',
        "HIVE_NOTES_LIMIT": "4096",
        "HIVE_ALLOWED_TOOLS": '["Bash(git *)", "Read"]',
    }


def test_a_missing_variable_takes_its_default_and_a_malformed_one_is_named() -> None:
    defaults = AgentEnvironment.from_environ({"HIVE_MODEL": "", "PATH": "/usr/bin"})
    assert defaults == AgentEnvironment()
    assert defaults.socket == CONTAINER_SOCKET and defaults.agent_command == ("claude",)
    with pytest.raises(ValueError, match="HIVE_AGENT_COMMAND must be a JSON list"):
        AgentEnvironment.from_environ({"HIVE_AGENT_COMMAND": '"claude"'})
    with pytest.raises(ValueError, match="HIVE_NOTES_LIMIT must be a whole number"):
        AgentEnvironment.from_environ({"HIVE_NOTES_LIMIT": "64k"})


def test_turn_end_is_the_json_the_controller_checks() -> None:
    end = TurnEnd(1.23456, 0, {"Bash": 2}, 1, 1, 10, "opus", {"operator": 1}, {"manager": 1})
    assert end.to_json() == {
        "model": "opus",
        "duration_s": 1.235,
        "exit_code": 0,
        "tool_calls": {"Bash": 2},
        "messages_in": 1,
        "messages_out": 1,
        "notes_bytes": 10,
        "received": {"operator": 1},
        "sent": {"manager": 1},
        "attempts": 1,
        "error": "",
        "returned": [],
    }
    assert f"http://hive{Route.TURNS}" == "http://hive/v1/turns"


def test_the_agent_side_loads_nothing_of_the_controller() -> None:
    found = subprocess.run(
        [sys.executable, "-c", IMPORT_THE_AGENT_SIDE],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules = json.loads(found.stdout)
    assert "gitops_hive.agent.harness" in modules and "gitops_hive.agent.mcp" in modules
    ours = [m for m in modules if m == "gitops_hive" or m.startswith("gitops_hive.")]
    controller = [
        m
        for m in ours
        if m not in ("gitops_hive", "gitops_hive.protocol")
        and m != "gitops_hive.agent"
        and not m.startswith("gitops_hive.agent.")
    ]
    assert controller == []
    libraries = [m for m in modules if m.split(".")[0] in CONTROLLER_LIBRARIES]
    assert libraries == []
