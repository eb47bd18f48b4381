"""The proposed/ hooks' pings: a datagram naming the agent whose refs just moved."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from gitops_hive.names import NAME_PATTERN

log = logging.getLogger(__name__)
OnPing = Callable[[str], Awaitable[object]]
# Pings whose rescan is under way or waiting: past this a flood's datagrams are dropped (the
# ref watcher still sees every move; a ping is only a hint).
MAX_IN_FLIGHT = 256
TAIL = 64  # bytes of a datagram looked at


def agent_of_datagram(data: bytes) -> str | None:
    """The agent a hook's ping names: the datagram is the name, or a syslog line (logger's
    "<13>Dec  2 10:00:00 hive: NAME") ending with it; None for anything else."""
    # Its end alone: a name is 32 characters at most, and a word cut by that slice is longer
    # than a name anyway, so a 256 KiB datagram costs what a name does.
    words = data[-TAIL:].decode("ascii", "replace").split()
    name = words[-1] if words else ""
    return name if NAME_PATTERN.fullmatch(name) else None


class PingProtocol(asyncio.DatagramProtocol):
    """The hooks send an agent name; anything else is ignored (the refs are re-read anyway).
    A name whose rescan has not started yet is not asked for again, and at most
    MAX_IN_FLIGHT are in flight: a flood of names holds the controller's memory bounded."""

    def __init__(self, on_ping: OnPing, known: Callable[[str], bool] = lambda _: True) -> None:
        self.on_ping = on_ping
        self.known = known  # an agent's name (else dropped at once: it would crowd out others)
        self.tasks: set[asyncio.Task[object]] = set()
        self._waiting: set[str] = set()
        self._dropping = False

    def datagram_received(self, data: bytes, addr: object) -> None:
        name = agent_of_datagram(data)
        if name is None or name in self._waiting or not self.known(name):
            return  # not a name, its rescan yet to start reads this move, or no agent
        if len(self.tasks) >= MAX_IN_FLIGHT:
            if not self._dropping:
                log.warning("notify socket: %d pings in flight; dropping more", MAX_IN_FLIGHT)
            self._dropping = True
            return
        self._waiting.add(name)
        task = asyncio.ensure_future(self._ping(name))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _ping(self, name: str) -> object:
        self._waiting.discard(name)
        return await self.on_ping(name)

    def _done(self, task: asyncio.Task[object]) -> None:
        self.tasks.discard(task)
        if not self.tasks:
            self._dropping = False


async def open_ping_socket(
    path: Path, on_ping: OnPing, known: Callable[[str], bool]
) -> asyncio.DatagramTransport:
    """Bind the datagram socket the proposed/ hooks ping (ours alone); a name `known` does
    not accept is dropped."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    path.chmod(0o600)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: PingProtocol(on_ping, known), sock=sock
    )
    return transport
