"""The runtime protocol the controller drives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Bind:
    """A host folder a container sees at `inside`; `hand_over` chowns it to the agent first."""

    host: Path
    inside: str
    writable: bool = False
    hand_over: bool = False


@dataclass(frozen=True)
class AgentLaunch:
    """Everything a runtime needs to start an agent from a pinned commit."""

    agent: str
    sha: str
    tree: Path
    state: Path
    run: Path
    env: dict[str, str] = field(default_factory=dict)
    uid_base: int | None = None  # the host uid of root inside, for runtimes with private users
    binds: tuple[Bind, ...] = ()  # extra folders, for runtimes with a root of their own


@dataclass(frozen=True)
class CrashReport:
    """An agent's unexpected exit."""

    agent: str
    sha: str
    returncode: int
    log_tail: list[str]
    restart_in: float | None  # None: the crash limit was hit, it stays down
    crashes_recent: int = 1  # within runtime.crash_window
    crashes_since_apply: int = 1
    since_apply: float = 0.0  # seconds since this commit was applied


CrashHandler = Callable[[CrashReport], Awaitable[None]]


class Runtime(Protocol):
    """apply / stop / status / logs / remove, whatever runs the agent."""

    async def apply(self, launch: AgentLaunch) -> None:
        """Start `launch.sha`; raise RuntimeFailure (old agent untouched) when it does not start."""

    async def stop(self, agent: str) -> None:
        """Stop the agent; nothing restarts it until the next apply."""

    def status(self, agent: str) -> dict[str, Any]:
        """{"state": running|crashed|stopped|absent, "sha": ..., ...}."""

    def logs(self, agent: str, lines: int) -> list[str]:
        """The last `lines` lines the agent printed."""

    private_users: bool
    """True when each agent runs under its own host uid range (AgentLaunch.uid_base)."""

    async def remove(self, agent: str) -> None:
        """Stop and forget the agent."""

    async def close(self) -> None:
        """Stop every agent (the controller is shutting down)."""
