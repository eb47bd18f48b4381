"""The wire contract the controller and the agent side share: the recv wait cap, sender names
and kinds, the socket's routes, the TurnEnd record and the HIVE_* environment.

Standard library only: the agent side imports this and nothing else of the controller's.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_WAIT_SECONDS = 180.0  # the longest a recv parks, on agent and manager sockets alike

OPERATOR = "operator"  # the sender of the operator's messages
SYSTEM_SENDER = "hive"  # the sender of the controller's notices
MANAGER_ROLE = "manager"
AGENT_ROLE = "agent"
RECIPIENT_KINDS = ("peer", "operator", "manager", "system")

CONTAINER_SOCKET = Path("/run/hive/hive.sock")  # the agent's socket, as its container sees it
CONTAINER_PUSH_REPO = "/hive.git"  # the manager's push target, as its container sees it


def recipient_kind(name: str, manager: str) -> str:
    """peer, operator, manager or system: who is on the other end of a message."""
    if name == OPERATOR:
        return "operator"
    if name == SYSTEM_SENDER:
        return "system"
    return "manager" if name == manager else "peer"


class Route(enum.StrEnum):
    """The paths an agent's socket serves; the socket itself names the caller."""

    WHOAMI = "/v1/whoami"
    MODEL = "/v1/model"
    SEND = "/v1/send"
    RECV = "/v1/recv"
    TURNS = "/v1/turns"
    FAILING = "/v1/failing"  # the harness's own check failed before any turn (no agent CLI)
    REQUEST_APPLY_COMMIT = "/v1/manager/request_apply_commit"
    REQUEST_SPAWN = "/v1/manager/request_spawn"
    REQUEST_SPAWN_DRAFT = "/v1/manager/request_spawn_draft"
    REQUEST_SPAWN_COMMIT = "/v1/manager/request_spawn_commit"
    ASK_OPERATOR = "/v1/manager/ask_operator"
    LIST_AGENTS = "/v1/manager/list_agents"
    LIST_PENDING = "/v1/manager/list_pending"
    PUSH = "/v1/manager/push"  # the pre-receive hook of the manager's /hive.git

    @property
    def tool(self) -> str:
        """The MCP tool hive-mcp serves this route as (whoami, request_spawn, ...)."""
        return self.name.lower()


# The routes hive-mcp offers as tools (the model and turn routes are the harness's).
EVERY_AGENT_TOOLS = (Route.WHOAMI, Route.SEND, Route.RECV)
MANAGER_TOOLS = (
    Route.REQUEST_APPLY_COMMIT,
    Route.REQUEST_SPAWN,
    Route.REQUEST_SPAWN_DRAFT,
    Route.REQUEST_SPAWN_COMMIT,
    Route.ASK_OPERATOR,
    Route.LIST_AGENTS,
    Route.LIST_PENDING,
)


def tools_for(role: str) -> list[str]:
    """The tools an agent of `role` may call: the manager's are refused to anyone else."""
    routes = EVERY_AGENT_TOOLS + (MANAGER_TOOLS if role == MANAGER_ROLE else ())
    return [route.tool for route in routes]


@dataclass(frozen=True)
class TurnEnd:
    """What one turn did: the figures the telemetry charts (the controller trusts none)."""

    duration_s: float
    exit_code: int
    tool_calls: dict[str, int] = field(default_factory=dict)
    messages_in: int = 0
    messages_out: int = 0
    notes_bytes: int = 0
    model: str = ""
    received: dict[str, int] = field(default_factory=dict)  # by sender kind
    sent: dict[str, int] = field(default_factory=dict)  # by recipient kind
    attempts: int = 1  # runs of the agent CLI this turn took
    error: str = ""  # why the turn failed, in a line ("agent CLI 'claude' not found")
    returned: tuple[int, ...] = ()  # ids of messages the agent never read: back to the inbox

    def to_json(self) -> dict[str, Any]:
        """The body of POST /v1/turns."""
        return {
            "model": self.model,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "tool_calls": self.tool_calls,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "notes_bytes": self.notes_bytes,
            "received": self.received,
            "sent": self.sent,
            "attempts": self.attempts,
            "error": self.error,
            "returned": list(self.returned),
        }


ENV_AGENT = "HIVE_AGENT"
ENV_COMMIT = "HIVE_COMMIT"
ENV_TREE = "HIVE_TREE"
ENV_STATE = "HIVE_STATE"
ENV_SOCKET = "HIVE_SOCKET"
ENV_MODEL = "HIVE_MODEL"
ENV_AGENT_COMMAND = "HIVE_AGENT_COMMAND"
ENV_TURN_TIMEOUT = "HIVE_TURN_TIMEOUT"
ENV_COMPACT_COMMAND = "HIVE_COMPACT_COMMAND"
ENV_NOTES_LIMIT = "HIVE_NOTES_LIMIT"
ENV_ALLOWED_TOOLS = "HIVE_ALLOWED_TOOLS"


def _text(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get(name) or default


def _json_list(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = environ.get(name, "")
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a JSON list, not {raw[:100]!r}")
    return tuple(str(part) for part in value)


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw[:100]!r}") from None


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw[:100]!r}") from None


@dataclass(frozen=True)
class AgentEnvironment:
    """Every HIVE_* variable the runtime sets for an agent: written by the controller in one
    place (deploy/launch.py), read by the harness in one place."""

    agent: str = ""
    commit: str = ""  # the deployed commit, a full sha
    tree: Path = Path(".")  # that commit's files, read-only
    state: Path = Path(".")  # the agent's persistent folder
    socket: Path = CONTAINER_SOCKET
    model: str = ""  # the effective model when the agent started
    agent_command: tuple[str, ...] = ("claude",)  # harness.agent_command, placeholders in
    turn_timeout: float = 1800.0
    compact_command: tuple[str, ...] = ()
    notes_limit: int = 0  # bytes; 0: never compact
    allowed_tools: tuple[str, ...] = ()  # agent.toml [tools] allow

    def to_environ(self) -> dict[str, str]:
        """The variables, encoded: JSON lists for commands and tools, decimals for numbers."""
        return {
            ENV_AGENT: self.agent,
            ENV_COMMIT: self.commit,
            ENV_TREE: str(self.tree),
            ENV_STATE: str(self.state),
            ENV_SOCKET: str(self.socket),
            ENV_MODEL: self.model,
            ENV_AGENT_COMMAND: json.dumps(list(self.agent_command)),
            ENV_TURN_TIMEOUT: str(self.turn_timeout),
            ENV_COMPACT_COMMAND: json.dumps(list(self.compact_command)),
            ENV_NOTES_LIMIT: str(self.notes_limit),
            ENV_ALLOWED_TOOLS: json.dumps(list(self.allowed_tools)),
        }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AgentEnvironment:
        """The variables read back; a missing or empty one takes its default, a malformed
        one raises ValueError naming it."""
        default = cls()
        return cls(
            agent=_text(environ, ENV_AGENT, default.agent),
            commit=_text(environ, ENV_COMMIT, default.commit),
            tree=Path(_text(environ, ENV_TREE, str(default.tree))),
            state=Path(_text(environ, ENV_STATE, str(default.state))),
            socket=Path(_text(environ, ENV_SOCKET, str(default.socket))),
            model=_text(environ, ENV_MODEL, default.model),
            agent_command=_json_list(environ, ENV_AGENT_COMMAND, default.agent_command),
            turn_timeout=_float(environ, ENV_TURN_TIMEOUT, default.turn_timeout),
            compact_command=_json_list(environ, ENV_COMPACT_COMMAND, default.compact_command),
            notes_limit=_int(environ, ENV_NOTES_LIMIT, default.notes_limit),
            allowed_tools=_json_list(environ, ENV_ALLOWED_TOOLS, default.allowed_tools),
        )
