"""Ref watching: inotify through watchfiles on each proposed/.git, plus the hooks' pings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

from watchfiles import Change, awatch

from gitops_hive.layout import HiveLayout
from gitops_hive.names import NAME_PATTERN

log = logging.getLogger(__name__)
OnChange = Callable[[str], Awaitable[object]]
# watchfiles waits `step` ms of quiet before yielding, `debounce` ms at most. Its loop also
# wakes (and takes the GIL) every `step` ms while idle: 5 ms cost an idle controller 0.4 %
# of a core, 50 ms 0.1 %. The hooks' ping is the fast path; this watch is the safety net.
STEP_MS = 50
DEBOUNCE_MS = 100
# Seconds after a rebuild before the refs are compared with those taken before it: by then
# the new watch stands (inotify watches are set in microseconds each), so a move is seen
# by the watch, the comparison, or both.
CATCH_UP_AFTER = 0.5
_REF_PATH = re.compile(
    r"/agents/(?P<name>[a-z][a-z0-9-]{0,31})/proposed/\.git/(HEAD|packed-refs|refs/.*)$"
)


def agent_of_ref_path(path: str) -> str | None:
    """The agent whose proposed/ refs `path` belongs to, or None for any other file."""
    if path.endswith(".lock"):
        return None
    match = _REF_PATH.search(path)
    return match.group("name") if match else None


# Inside proposed/.git, the folders whose entries are the refs a rescan reads (HEAD and
# packed-refs in the first): watched alone, not recursively, so objects/ costs no watch and
# a commit's object writes no wake-up. A folder made later (a first note) rebuilds the watch.
WATCHED_DIRS = ("", "refs", "refs/heads", "refs/notes", "refs/notes/hive")
_STAMPED = ("HEAD", "packed-refs", "refs/heads/main", "refs/notes/hive/model")
Stamp = tuple[tuple[int, int, int] | None, ...]


def _stamp(git_dir: Path) -> Stamp:
    """The refs a rescan reads, stat'ed (lstat: nothing in an untrusted repo is followed)."""
    found: list[tuple[int, int, int] | None] = []
    for name in _STAMPED:
        try:
            entry = os.lstat(git_dir / name)
        except OSError:
            found.append(None)
        else:
            found.append((entry.st_mtime_ns, entry.st_ino, entry.st_size))
    return tuple(found)


def _stamps(gits: dict[str, Path]) -> dict[str, Stamp]:
    return {name: _stamp(git) for name, git in gits.items()}


class RefWatcher:
    """Calls on_change(agent) whenever an agent's proposed/ refs move.

    A new agent rebuilds the watch. Only agents whose refs moved while no watch stood are
    rescanned then (their stamp, taken before the old watch stopped, differs from one taken
    once the new watch stands), and the new ones: not a thousand for every draft.
    """

    def __init__(self, layout: HiveLayout, on_change: OnChange) -> None:
        self.layout = layout
        self.on_change = on_change
        self._generation = asyncio.Event()
        self._stopping = False
        self.ready = asyncio.Event()
        self._gits: dict[str, Path] = {}
        self._before: dict[str, Stamp] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def refresh(self) -> None:
        """The set of agents changed: watch again."""
        self._spawn(self._rewatch())

    async def _rewatch(self) -> None:
        if self._generation.is_set():
            return  # a rebuild is under way: it lists the agents after this
        self._before = await asyncio.to_thread(_stamps, self._gits)
        self._generation.set()

    def stop(self) -> None:
        self._stopping = True
        self._generation.set()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _filter(self, change: Change, path: str) -> bool:
        return agent_of_ref_path(path) is not None

    def _watched(self) -> tuple[dict[str, Path], list[Path]]:
        gits = {
            str(name): self.layout.agent(name).proposed_git
            for name in self.layout.existing_agents()
            if self.layout.agent(name).proposed_git.is_dir()
        }
        dirs = [git / sub for git in gits.values() for sub in WATCHED_DIRS if (git / sub).is_dir()]
        return gits, dirs

    async def run(self) -> None:
        while not self._stopping:
            self._generation = asyncio.Event()
            self._gits, dirs = await asyncio.to_thread(self._watched)
            if self.ready.is_set():  # a rebuild: catch up once the new watch stands
                asyncio.get_running_loop().call_later(CATCH_UP_AFTER, self._later, self._before)
            self.ready.set()
            if not dirs:
                await self._generation.wait()
                continue
            async for changes in awatch(
                *dirs,
                watch_filter=self._filter,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._generation,
                ignore_permission_denied=True,
                recursive=False,
            ):
                moved = {agent_of_ref_path(path) for _, path in changes}
                for agent in sorted(n for n in moved if n):
                    await self.on_change(agent)
                if any(change is Change.added and os.path.isdir(path) for change, path in changes):
                    self.refresh()  # a new refs folder: watch it too

    def _later(self, before: dict[str, Stamp]) -> None:
        self._spawn(self._catch_up(before))

    async def _catch_up(self, before: dict[str, Stamp]) -> None:
        now = await asyncio.to_thread(_stamps, self._gits)
        for name in sorted(n for n in now if before.get(n) != now[n]):
            await self.on_change(name)


def agent_of_datagram(data: bytes) -> str | None:
    """The agent a hook's ping names: the datagram is the name, or a syslog line (logger's
    "<13>Dec  2 10:00:00 hive: NAME") ending with it; None for anything else."""
    words = data.decode("ascii", "replace").split()
    name = words[-1] if words else ""
    return name if NAME_PATTERN.fullmatch(name) else None


class NotifyProtocol(asyncio.DatagramProtocol):
    """The hooks send an agent name; anything else is ignored (the refs are re-read anyway)."""

    def __init__(self, on_change: OnChange) -> None:
        self.on_change = on_change
        self.tasks: set[asyncio.Task[object]] = set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        name = agent_of_datagram(data)
        if name is not None:
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
