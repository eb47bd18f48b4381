"""The agent's side of its hive socket: JSON over HTTP over a unix socket, async."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp

from gitops_hive.protocol import CONTAINER_SOCKET, ENV_SOCKET, MAX_WAIT_SECONDS, Route, TurnEnd

# A parked recv answers within its wait; leave room for a slow controller on top.
REQUEST_TIMEOUT = MAX_WAIT_SECONDS + 60


class HiveCallError(Exception):
    """The hive refused a call; the message says why and what to do."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def socket_from_env(explicit: str | Path | None = None) -> Path:
    """--socket, else $HIVE_SOCKET, else /run/hive/hive.sock."""
    return Path(explicit or os.environ.get(ENV_SOCKET) or CONTAINER_SOCKET)


class AgentClient:
    """Calls on one agent's hive socket."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.socket_path)),
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; a refusal raises HiveCallError with the hive's own message.

        A request that could not even be written (a kept-alive connection the server had
        just closed) is sent once more on a new connection: the hive never saw it.
        """
        for attempt in (1, 2):
            try:
                async with self._open().request(method, f"http://hive{path}", json=body) as reply:
                    data = await reply.json(content_type=None)
                break
            except aiohttp.ClientConnectorError:
                raise HiveCallError(
                    f"cannot reach the hive at {self.socket_path}: is the controller running?",
                    "unavailable",
                ) from None
            except aiohttp.ClientOSError as exc:
                if attempt == 1 and "write request body" in str(exc):
                    continue
                raise HiveCallError(
                    f"the connection to the hive broke: {exc}", "unavailable"
                ) from None
            except (aiohttp.ClientError, ValueError) as exc:
                raise HiveCallError(
                    f"the connection to the hive broke: {exc}", "unavailable"
                ) from None
        if reply.status >= 400:
            raise HiveCallError(
                str(data.get("error", f"HTTP {reply.status}")), str(data.get("code", ""))
            )
        return data

    async def whoami(self) -> dict[str, Any]:
        return dict(await self.call("GET", Route.WHOAMI))

    async def send(self, to: str, body: str) -> dict[str, Any]:
        return dict(await self.call("POST", Route.SEND, {"to": to, "body": body}))

    async def recv(self, wait_seconds: float) -> dict[str, Any]:
        return dict(await self.call("POST", Route.RECV, {"wait_seconds": wait_seconds}))

    async def model(self) -> str:
        """The model this agent's next turn should run with."""
        reply = await self.call("GET", Route.MODEL)
        return str(reply["model"])

    async def failing(self, reason: str) -> dict[str, Any]:
        """Say why this agent cannot take a turn, before any turn shows it."""
        return dict(await self.call("POST", Route.FAILING, {"reason": reason}))

    async def turn_end(self, end: TurnEnd) -> dict[str, Any]:
        """Report one turn's figures."""
        return dict(await self.call("POST", Route.TURNS, end.to_json()))
