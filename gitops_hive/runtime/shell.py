"""How to enter a running agent: a shell inside its container, or in its state folder.

Under nspawn the shell joins the container's namespaces with `nsenter` on the container's
leader (pid 1 inside, the child of the agent's systemd-nspawn: the controller's own child, or
the MainPID of its systemd unit), as root inside: the agent's mapped, unprivileged base uid
on the host. It needs no machined registration.
Under the process runtime there is nothing to enter: the shell runs in the state folder,
as the controller's user, and says so (`isolated` is False).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gitops_hive.errors import Conflict, RuntimeFailure
from gitops_hive.runtime.base import AgentState, Runtime

CONTAINER_STATE = "/state"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NAMESPACES = ("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--user")


@dataclass(frozen=True)
class ShellCommand:
    """A shell to run on a terminal: its argv, its whole environment and where it starts."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    isolated: bool  # inside the agent's container, or a plain process on the host
    where: str  # said to the operator when the session opens


def _status_fields(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def find_leader(nspawn_pid: int) -> int:
    """The container's pid 1 (as the host numbers it): the child of systemd-nspawn whose
    pid in its own namespace is 1."""
    children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children")
    try:
        pids = [int(p) for p in children.read_text().split()]
    except OSError:
        pids = []
    for pid in pids:
        try:
            nspid = _status_fields(pid).get("NSpid", "").split()
        except OSError:
            continue
        if len(nspid) > 1 and nspid[-1] == "1":
            return pid
    raise Conflict("the container has no leader yet: it is starting or stopping; try again")


def _terminal_env(home: str, path: str) -> dict[str, str]:
    return {"PATH": path, "HOME": home, "TERM": "xterm-256color", "LANG": "C.UTF-8"}


def process_shell(state: Path, shell: list[str]) -> ShellCommand:
    """A shell in the agent's state folder, as the controller's user: not isolated."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return ShellCommand(
        argv=tuple(shell),
        env=_terminal_env(str(state), path),
        cwd=state,
        isolated=False,
        where=f"a shell in {state} on the host, as the controller's user: NOT isolated",
    )


def nspawn_shell(leader: int, shell: list[str]) -> ShellCommand:
    """A login shell in the leader's namespaces, root inside (the agent's base uid outside)."""
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise RuntimeFailure("nsenter is missing: apt install util-linux")
    argv = (
        nsenter,
        f"--target={leader}",
        *NAMESPACES,
        "--root",
        "--setuid=0",
        "--setgid=0",
        "--",
        # nsenter opens --wd=DIR on the host, before it enters: change folder once inside.
        "/bin/sh",
        "-c",
        f'cd {CONTAINER_STATE} && exec "$@"',
        "sh",
        *shell,
    )
    return ShellCommand(
        argv=argv,
        env=_terminal_env(CONTAINER_STATE, CONTAINER_PATH),
        cwd=Path("/"),
        isolated=True,
        where="a shell inside the agent's container, as its root (an unprivileged uid)",
    )


async def shell_for(runtime: Runtime, agent: str, state: Path, shell: list[str]) -> ShellCommand:
    """How to enter `agent` under `runtime`; refused unless it runs."""
    status = runtime.status(agent)
    if status.state is not AgentState.RUNNING:
        raise Conflict(f"{agent} is {status.state.value}: start it first (hivectl start {agent})")
    if not runtime.private_users:
        return process_shell(state, shell)
    # Our child under nspawn.supervisor = controller; the unit's MainPID under systemd.
    nspawn_pid = await runtime.main_pid(agent)
    if nspawn_pid is None:
        raise Conflict(f"{agent}'s container is starting or stopping; try again")
    return nspawn_shell(find_leader(nspawn_pid), shell)
