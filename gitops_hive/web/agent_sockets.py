"""One unix socket per agent, from the moment the agent exists until the controller stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiohttp import web

from gitops_hive.config import HiveConfig
from gitops_hive.hive import Hive
from gitops_hive.web.agent_api import make_agent_app, request_bytes
from gitops_hive.web.jsonhttp import serve_unix_socket
from gitops_hive.web.limits import ListenerLimits

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 2.0  # seconds for in-flight calls when the controller stops


class AgentSockets:
    """Serves agents/NAME/run/hive/hive.sock (0600 in a 0700 folder, both the agent's uid)."""

    def __init__(self, hive: Hive, config: HiveConfig) -> None:
        self.hive = hive
        self.config = config
        self._runners: dict[str, web.AppRunner] = {}
        self._opening = asyncio.Lock()

    async def open(self, name: str) -> None:
        """Serve `name`'s socket (idempotent)."""
        async with self._opening:  # open_all at start and a new agent's may meet
            if name not in self._runners:
                await self._open(name)

    async def _open(self, name: str) -> None:
        agent = self.hive.agent_layout(name)
        uid = await self.hive.agent_uid(name)
        agent.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(agent.socket_dir, uid, uid)
        agent.socket_dir.chmod(0o700)
        app = make_agent_app(
            self.hive.agent_calls(name), uid, request_bytes(self.config["limits.message_bytes"])
        )
        limits = ListenerLimits.of(self.config, f"agent {name}", "limits.agent_connections")
        self._runners[name] = await serve_unix_socket(
            app,
            agent.socket,
            limits,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE,
        )
        os.chown(agent.socket, uid, uid)
        log.debug("agent %s: socket %s", name, agent.socket)

    async def open_all(self) -> None:
        for name in await self.hive.agent_names():
            await self.open(name)

    async def close(self) -> None:
        """Stop serving every socket at once: each may wait SHUTDOWN_GRACE for its calls."""

        async def close_one(name: str, runner: web.AppRunner) -> None:
            await runner.cleanup()
            with contextlib.suppress(FileNotFoundError):
                self.hive.agent_layout(name).socket.unlink()

        runners, self._runners = self._runners, {}
        results = await asyncio.gather(
            *(close_one(name, runner) for name, runner in runners.items()), return_exceptions=True
        )
        for name, result in zip(runners, results, strict=True):
            if isinstance(result, Exception):
                log.warning("agent %s: closing its socket failed: %s", name, result)
