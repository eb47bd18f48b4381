"""The runtime protocol, the launcher protocol runtimes take, and their records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from gitops_hive.runtime.images import Image
from gitops_hive.spec import NetworkMode


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
    network: NetworkMode = NetworkMode.OUTBOUND  # honoured by runtimes with namespaces
    image: Image | None = None  # the root's Debian base and package layer (nspawn)


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


OWN_MOUNT_NAMESPACE = Path("/proc/self/ns/mnt")
SYSTEMD_MOUNT_NAMESPACE = Path("/proc/1/ns/mnt")  # where systemd starts units


class AgentState(StrEnum):
    """What a runtime says of an agent it was asked to run."""

    ABSENT = "absent"  # never applied (or applied and refused) since the controller started
    RUNNING = "running"
    CRASHED = "crashed"  # exited by itself; restarting after a backoff, or given up
    STOPPED = "stopped"  # stopped on purpose; nothing restarts it until the next apply


@dataclass(frozen=True)
class RuntimeStatus:
    """An agent's state in its runtime, the commit and pid it runs, its restarts since apply."""

    state: AgentState
    sha: str | None = None
    pid: int | None = None
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        """The `runtime` object of the agents API."""
        return {
            "state": self.state.value,
            "sha": self.sha,
            "pid": self.pid,
            "restarts": self.restarts,
        }


@dataclass(frozen=True)
class Invocation:
    """How to run an agent: command line, environment and working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


class Launcher(Protocol):
    """What differs between ways of running the agent's command: process, container."""

    private_users: bool
    """True when each agent runs under its own host uid range (AgentLaunch.uid_base)."""

    async def invocation(self, launch: AgentLaunch) -> Invocation:
        """Prepare what the launch needs on the host and say how to run it."""

    async def after_exit(self, launch: AgentLaunch, still_running: Collection[int]) -> None:
        """Clean up after a child of `launch` exited; `still_running`: the agent's other pids."""

    async def close(self) -> None:
        """Undo what launches set up on the host, once every agent has stopped."""


class Runtime(Protocol):
    """apply / stop / status / logs / close, whatever runs the agent."""

    async def apply(self, launch: AgentLaunch) -> None:
        """Start `launch.sha`; raise RuntimeFailure (old agent untouched) when it does not start."""

    async def stop(self, agent: str) -> None:
        """Stop the agent; nothing restarts it until the next apply."""

    def status(self, agent: str) -> RuntimeStatus:
        """The agent's state, commit, pid and restarts."""

    def logs(self, agent: str, lines: int) -> list[str]:
        """The last `lines` lines the agent printed."""

    async def main_pid(self, agent: str) -> int | None:
        """The host pid of what runs the running agent (its process, or its systemd-nspawn),
        or None when nothing runs it now."""

    private_users: bool
    """True when each agent runs under its own host uid range (AgentLaunch.uid_base)."""

    mount_namespace: Path
    """The mount namespace agents start in (ours for children, systemd's for units): where a
    bind meant for a running container is made."""

    async def close(self) -> None:
        """Stop every agent (the controller is shutting down)."""
