"""The proposed/ hooks' pings: a datagram naming the agent whose refs just moved."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from gitops_hive.names import NAME_PATTERN

OnPing = Callable[[str], Awaitable[object]]


def agent_of_datagram(data: bytes) -> str | None:
    """The agent a hook's ping names: the datagram is the name, or a syslog line (logger's
    "<13>Dec  2 10:00:00 hive: NAME") ending with it; None for anything else."""
    words = data.decode("ascii", "replace").split()
    name = words[-1] if words else ""
    return name if NAME_PATTERN.fullmatch(name) else None


class PingProtocol(asyncio.DatagramProtocol):
    """The hooks send an agent name; anything else is ignored (the refs are re-read anyway)."""

    def __init__(self, on_ping: OnPing) -> None:
        self.on_ping = on_ping
        self.tasks: set[asyncio.Task[object]] = set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        name = agent_of_datagram(data)
        if name is not None:
            task = asyncio.ensure_future(self.on_ping(name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def open_ping_socket(path: Path, on_ping: OnPing) -> asyncio.DatagramTransport:
    """Bind the datagram socket the proposed/ hooks ping (ours alone)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    path.chmod(0o600)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: PingProtocol(on_ping), sock=sock)
    return transport
