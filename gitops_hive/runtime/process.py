"""The `process` runtime's launcher: the configured command, run as it is on the host."""

from __future__ import annotations

import os
from collections.abc import Collection

from gitops_hive.runtime.base import AgentLaunch, Invocation


class CommandLauncher:
    """Runs runtime.command directly, with the agent's tree and state as host paths."""

    private_users = False

    def __init__(self, command: list[str]) -> None:
        self.command = command

    async def invocation(self, launch: AgentLaunch) -> Invocation:
        """argv, environment and working directory of the agent's process."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(launch.state),
            **launch.env,
            "PYTHONUNBUFFERED": "1",
        }
        return Invocation(list(self.command), env, launch.state)

    async def after_exit(self, launch: AgentLaunch, still_running: Collection[int]) -> None:
        """Nothing beyond the child's session, which the child runtime ends."""

    async def close(self) -> None:
        """Nothing: a process changes nothing on the host."""
