"""Ref watching: inotify through watchfiles on each proposed/.git, plus the hooks' pings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from gitops_hive.layout import HiveLayout
from gitops_hive.names import NAME_PATTERN

log = logging.getLogger(__name__)
OnChange = Callable[[str], Awaitable[object]]
# watchfiles waits `step` ms of quiet before yielding, `debounce` ms at most.
STEP_MS = 5
DEBOUNCE_MS = 50
_REF_PATH = re.compile(
    r"/agents/(?P<name>[a-z][a-z0-9-]{0,31})/proposed/\.git/(HEAD|packed-refs|refs/.*)$"
)


def agent_of_ref_path(path: str) -> str | None:
    """The agent whose proposed/ refs `path` belongs to, or None for any other file."""
    if path.endswith(".lock"):
        return None
    match = _REF_PATH.search(path)
    return match.group("name") if match else None


class RefWatcher:
    """Calls on_change(agent) whenever an agent's proposed/ refs move."""

    def __init__(self, layout: HiveLayout, on_change: OnChange) -> None:
        self.layout = layout
        self.on_change = on_change
        self._generation = asyncio.Event()
        self._stopping = False
        self.ready = asyncio.Event()

    def refresh(self) -> None:
        """The set of agents changed: watch again."""
        self._generation.set()

    def stop(self) -> None:
        self._stopping = True
        self._generation.set()

    def _filter(self, change: Change, path: str) -> bool:
        return agent_of_ref_path(path) is not None

    async def run(self) -> None:
        first = True
        while not self._stopping:
            self._generation = asyncio.Event()
            names = [
                name
                for name in self.layout.existing_agents()
                if self.layout.agent(name).proposed_git.is_dir()
            ]
            paths = [self.layout.agent(name).proposed_git for name in names]
            if not first:  # a ref may have moved while the watch was being rebuilt
                for name in names:
                    await self.on_change(name)
            first = False
            if not paths:
                self.ready.set()
                await self._generation.wait()
                continue
            self.ready.set()
            async for changes in awatch(
                *paths,
                watch_filter=self._filter,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._generation,
                ignore_permission_denied=True,
            ):
                moved = {agent_of_ref_path(path) for _, path in changes}
                for agent in sorted(n for n in moved if n):
                    await self.on_change(agent)


class NotifyProtocol(asyncio.DatagramProtocol):
    """The hooks send an agent name; anything else is ignored (the refs are re-read anyway)."""

    def __init__(self, on_change: OnChange) -> None:
        self.on_change = on_change
        self.tasks: set[asyncio.Task[object]] = set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        name = data.decode("ascii", "replace").strip()
        if NAME_PATTERN.fullmatch(name):
            task = asyncio.ensure_future(self.on_change(name))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def open_notify_socket(path: Path, on_change: OnChange) -> asyncio.DatagramTransport:
    """Bind the datagram socket the proposed/ hooks ping."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    path.chmod(0o600)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: NotifyProtocol(on_change), sock=sock)
    return transport
