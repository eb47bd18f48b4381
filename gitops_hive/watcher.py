"""Ref watching: one inotify descriptor, read on the event loop, over the few folders of each
proposed/ repo whose entries are the refs a rescan reads."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from inotify_simple import INotify, flags

from gitops_hive.layout import HiveLayout

log = logging.getLogger(__name__)
OnChange = Callable[[str], Awaitable[object]]
SWEEP_AT_ONCE = 16  # agents looked at together when events were lost
# Seconds between the end of a sweep and the next: a repo that keeps the kernel's queue
# overflowing (a flood of writes in its watched folders) cannot keep every agent rescanned.
SWEEP_GAP = 1.0


# A ref moves by a rename onto or off it (git's lock files), a write in place, or a removal;
# a folder appears by mkdir or a rename.
REF_MOVES = int(flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.CLOSE_WRITE)
APPEARS = int(flags.CREATE | flags.MOVED_TO)
# A watched folder is reached one O_NOFOLLOW step at a time from the agent's proposed/ (no
# link on the way is followed, whatever a race swaps in) and watched through its fd.
WATCH_FLAGS = int(flags.ONLYDIR | flags.EXCL_UNLINK)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Watched:
    """A folder watched in each proposed/ (relative to the work tree): the entries whose
    change moves the agent's refs, and the folders that, once made, are watched in turn."""

    refs: frozenset[str] = frozenset()
    folders: frozenset[str] = frozenset()

    @property
    def mask(self) -> int:
        """Only the events that can concern those entries."""
        return (REF_MOVES if self.refs else 0) | (APPEARS if self.folders else 0) | WATCH_FLAGS


# Only these folders: objects/, logs/ and the index cost no watch, and a thousand agents cost
# six watches each. The work tree itself is watched for a new .git. What a rescan reads is
# main, the model notes ref and packed-refs (HEAD is not read: main is main, whatever HEAD
# names).
WATCHED = {
    "": Watched(folders=frozenset({".git"})),
    ".git": Watched(refs=frozenset({"packed-refs"}), folders=frozenset({"refs"})),
    ".git/refs": Watched(folders=frozenset({"heads", "notes"})),
    ".git/refs/heads": Watched(refs=frozenset({"main"})),
    ".git/refs/notes": Watched(folders=frozenset({"hive"})),
    ".git/refs/notes/hive": Watched(refs=frozenset({"model"})),
}


def _folder_of(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class RefWatcher:
    """Calls on_change(agent) the moment an agent's proposed/ refs move (no debounce: the
    rescan itself is coalesced per agent, and skipped when the ref files did not change)."""

    def __init__(self, layout: HiveLayout, on_change: OnChange) -> None:
        self.layout = layout
        self.on_change = on_change
        self._inotify: INotify | None = None
        self._by_wd: dict[int, tuple[str, str]] = {}
        self._wd_of: dict[tuple[str, str], int] = {}
        self._agents: set[str] = set()
        self._full: set[str] = set()  # agents a watch was refused for: no watches left
        self._sweeping: asyncio.Future[None] | None = None
        self._sweep_again = False
        self._tasks: set[asyncio.Task[object]] = set()

    def knows(self, name: str) -> bool:
        """Whether `name` is an agent watched (or refused a watch): what a ping may name."""
        return name in self._agents

    @property
    def watches(self) -> int:
        """How many folders are watched now."""
        return len(self._by_wd)

    async def start(self) -> None:
        """Watch every agent on disk (in a thread: a thousand agents are six thousand
        watches), then read events on the loop. Nothing is rescanned here: the hive rescans
        every agent once it has started."""
        inotify = INotify(nonblocking=True)
        self._inotify = inotify
        await asyncio.to_thread(self._watch_agents, self.layout.existing_agents())
        asyncio.get_running_loop().add_reader(inotify.fileno(), self._readable)

    def add(self, name: str) -> None:
        """A new agent: watch it and rescan it once (anything that moved before its watch
        stood)."""
        if self._inotify is None or name in self._agents:
            return
        self._watch_agents([name])
        self._changed(name)

    def stop(self) -> None:
        """Stop reading events and close the descriptor (every watch with it)."""
        inotify, self._inotify = self._inotify, None
        if inotify is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(inotify.fileno())
            inotify.close()
        for task in list(self._tasks):
            task.cancel()

    def _watch_agents(self, names: Iterable[str]) -> None:
        full_before = len(self._full)
        for name in names:
            self._agents.add(name)
            self._watch_tree(name, "")
        if len(self._full) > full_before:
            shown = ", ".join(sorted(self._full)[:5])
            log.warning(
                "ref watcher: the kernel's inotify watch limit is reached: %d agents (%s%s) "
                "are seen only through their hook's ping; raise fs.inotify.max_user_watches "
                "(sysctl) and restart the controller",
                len(self._full),
                shown,
                ", ..." if len(self._full) > 5 else "",
            )

    def _watch_tree(self, agent: str, rel: str, parent: int | None = None) -> None:
        """Watch `rel` of the agent's proposed/ and whichever of its watched folders exist
        (`parent`: an fd of the folder holding it, else it is reached from proposed/)."""
        fd = self._open(agent, rel, parent)
        if fd is None:
            return
        try:
            if self._watch(agent, rel, fd):
                for folder in WATCHED[rel].folders:
                    self._watch_tree(agent, _folder_of(rel, folder), fd)
        finally:
            os.close(fd)

    def _open(self, agent: str, rel: str, parent: int | None) -> int | None:
        """An fd of the folder `rel`, each step O_NOFOLLOW: None when a step is missing, not
        a folder, or a link (a .git swapped for a link to another agent's, or to /etc)."""
        steps = [rel.rsplit("/", 1)[-1]] if parent is not None else rel.split("/") if rel else []
        try:
            fd = (
                os.dup(parent)
                if parent is not None
                else os.open(self.layout.agent(agent).proposed, DIR_FLAGS)
            )
        except OSError:
            return None
        for step in steps:
            try:
                inner = os.open(step, DIR_FLAGS, dir_fd=fd)
            except OSError:
                os.close(fd)
                return None
            os.close(fd)
            fd = inner
        return fd

    def _watch(self, agent: str, rel: str, fd: int) -> bool:
        inotify = self._inotify
        if inotify is None:
            return False
        key = (agent, rel)
        try:  # the fd's own folder: /proc's link to it is the one link followed
            wd = inotify.add_watch(f"/proc/self/fd/{fd}", WATCHED[rel].mask)
        except OSError as exc:  # gone meanwhile, or no watches left
            if exc.errno == errno.ENOSPC:
                self._full.add(agent)
            return False
        owner = self._by_wd.get(wd)
        if owner is not None and owner != key and self._wd_of.get(owner) == wd:
            del self._wd_of[owner]  # moved here from where it was watched: watched as this now
        old = self._wd_of.get(key)
        if old is not None and old != wd:  # made again: the old folder is not ours to follow
            self._by_wd.pop(old, None)
            with contextlib.suppress(OSError):
                inotify.rm_watch(old)
        self._wd_of[key] = wd
        self._by_wd[wd] = key
        return True

    def _readable(self) -> None:
        inotify = self._inotify
        if inotify is None:
            return
        try:
            events = inotify.read(timeout=0)
        except OSError as exc:
            log.warning("ref watcher: reading inotify failed: %s", exc)
            return
        moved: set[str] = set()
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                self._sweep()
                continue
            where = self._by_wd.get(event.wd)
            if where is None:
                continue
            agent, rel = where
            if event.mask & flags.IGNORED:  # the folder is gone
                self._by_wd.pop(event.wd, None)
                if self._wd_of.get(where) == event.wd:
                    del self._wd_of[where]
                continue
            watched = WATCHED[rel]
            if event.name in watched.refs:
                moved.add(agent)
            elif event.name in watched.folders and event.mask & APPEARS:
                self._watch_tree(agent, _folder_of(rel, event.name))
                moved.add(agent)
        for agent in sorted(moved):
            self._changed(agent)

    def _sweep(self) -> None:
        """Events were lost (the kernel's queue overflowed): look at every agent, a few at a
        time; another overflow meanwhile makes one more sweep SWEEP_GAP after it, not one
        more each."""
        if self._sweeping is not None and not self._sweeping.done():
            self._sweep_again = True
            return
        log.warning("ref watcher: events were lost; looking at every agent's refs")
        self._sweeping = asyncio.ensure_future(self._sweep_all())
        self._tasks.add(self._sweeping)
        self._sweeping.add_done_callback(self._tasks.discard)

    async def _sweep_all(self) -> None:
        while True:
            self._sweep_again = False
            names = sorted(self._agents)
            for start in range(0, len(names), SWEEP_AT_ONCE):
                batch = names[start : start + SWEEP_AT_ONCE]
                await asyncio.gather(*(self.on_change(n) for n in batch), return_exceptions=True)
            if not self._sweep_again:
                return
            await asyncio.sleep(SWEEP_GAP)  # a flood's overflows: one sweep a gap at most

    def _changed(self, agent: str) -> None:
        task = asyncio.ensure_future(self.on_change(agent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
