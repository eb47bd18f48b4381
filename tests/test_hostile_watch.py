"""A hostile manager against the ref watcher and the hooks' ping socket: it writes every
agent's proposed/ (so it can link or move one agent's folders into another's) and can send
any datagram. One agent's repo or datagrams may cost that agent its watch, never another
agent's, never a folder outside the repos, never the controller's memory."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import time
from pathlib import Path

import pytest
from inotify_simple import Event, flags

from gitops_hive import watcher as watcher_module
from gitops_hive.bus import KeyedLocks
from gitops_hive.hook_pings import MAX_IN_FLIGHT, PingProtocol, agent_of_datagram
from gitops_hive.layout import HiveLayout
from gitops_hive.store import queries
from gitops_hive.watcher import RefWatcher
from tests.conftest import make_root, started_hive
from tests.ref_watching import Calls, commit, proposed
from tests.repo_factory import git, make_repo


async def test_a_git_folder_swapped_for_a_link_mid_watch_is_not_followed(
    watched: tuple[RefWatcher, Calls, Path], tmp_path: Path
) -> None:
    """worker's .git is turned into a link (to scout's .git, to a folder outside) between
    the event that says its refs appeared and the watch set on it: the watch goes on
    worker's own folder or nowhere, and scout stays watched as scout."""
    watcher, calls, root = watched
    worker, scout = proposed(root, "worker"), proposed(root, "scout")
    outside = tmp_path / "outside"
    (outside / "refs" / "heads").mkdir(parents=True)
    for target in (scout / ".git", outside):
        if (worker / ".git").is_symlink():
            (worker / ".git").unlink()
        else:
            shutil.rmtree(worker / ".git")
        (worker / ".git").symlink_to(target, target_is_directory=True)
        await calls.none_within()
        watcher._watch_tree("worker", ".git/refs")  # where the race lands
        watcher._watch_tree("worker", ".git/refs/heads")
    (outside / "refs" / "heads" / "main").write_text("0" * 40 + "\n")
    assert await calls.none_within() == []
    commit(scout)
    assert await calls.next() == "scout"
    assert await calls.none_within() == []


async def test_a_refs_folder_moved_into_another_agent_leaves_that_agent_watched(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    """worker's watched refs/heads is moved into scout's repo (in place of scout's own), then
    worker makes a new one: scout's moves are still seen, as scout's."""
    _, calls, root = watched
    worker, scout = proposed(root, "worker"), proposed(root, "scout")
    shutil.rmtree(scout / ".git" / "refs" / "heads")
    (worker / ".git" / "refs" / "heads").rename(scout / ".git" / "refs" / "heads")
    await calls.none_within()
    (worker / ".git" / "refs" / "heads").mkdir()
    await calls.none_within()
    commit(scout)
    assert await calls.next() == "scout"
    assert await calls.none_within() == []
    git(worker, "update-ref", "refs/heads/main", git(scout, "rev-parse", "HEAD~1"))
    assert await calls.next() == "worker"


async def test_pings_naming_agents_that_do_not_exist_cost_no_memory_and_record_nothing(
    tmp_path: Path,
) -> None:
    """A flood of datagrams, each a different well-formed name of no agent: the controller
    keeps nothing per name, holds a bounded number of them in flight, and records no event
    or notice for any."""
    layout = HiveLayout(make_root(tmp_path / "hive"))
    hive = await started_hive(layout)
    try:
        await hive.spawn("worker")
        locks_before = len(hive.ctx.submit_locks._locks)
        events_before = len(await queries.list_events(hive.ctx.db, limit=1000))
        pings = PingProtocol(functools.partial(hive.rescan, moved_only=True))
        for n in range(5000):
            pings.datagram_received(f"ghost-{n}".encode(), None)
            pings.datagram_received(b"worker", None)
        assert len(pings.tasks) <= MAX_IN_FLIGHT
        while pings.tasks:
            await asyncio.gather(*pings.tasks)
        assert len(hive.ctx.submit_locks._locks) == locks_before
        events = await queries.list_events(hive.ctx.db, limit=1000)
        assert len(events) == events_before
        assert not [e for e in events if (e.agent or "").startswith("ghost")]
    finally:
        await hive.close()


async def test_main_rewritten_in_place_with_its_old_times_is_still_seen(tmp_path: Path) -> None:
    """main written over in place (same inode, same size) and its times set back: the stamp
    a rescan compares still changes (the change time cannot be set back), so the move is not
    skipped for good."""
    layout = HiveLayout(make_root(tmp_path / "hive"))
    hive = await started_hive(layout)
    try:
        await hive.spawn("worker")
        repo = layout.agent("worker").proposed
        assert await hive.rescan("worker", moved_only=True) is None  # pending already: stamped
        tree = git(repo, "rev-parse", "HEAD^{tree}")
        later = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "moved in place")
        main = repo / ".git" / "refs" / "heads" / "main"
        before = main.stat()
        with main.open("r+") as handle:
            handle.write(later + "\n")
        os.utime(main, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = main.stat()
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
            before.st_ino,
            before.st_size,
            before.st_mtime_ns,
        )
        moved = await hive.rescan("worker", moved_only=True)
        assert moved is not None and moved.head == later
    finally:
        await hive.close()


async def test_overflows_kept_up_by_one_agent_sweep_every_agent_no_more_than_once_a_gap(
    watched: tuple[RefWatcher, Calls, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One agent's flood of writes keeps the kernel's queue overflowing: each overflow would
    look at every agent of the hive again, back to back. A sweep after another waits
    SWEEP_GAP, so one repo cannot keep the controller rescanning the whole hive."""
    watcher, calls, _ = watched
    monkeypatch.setattr(watcher_module, "SWEEP_GAP", 0.5)
    lost = Event(wd=-1, mask=flags.Q_OVERFLOW, cookie=0, name="")
    monkeypatch.setattr(watcher._inotify, "read", lambda timeout=0: [lost])
    started: list[float] = []
    third = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def overflowing_meanwhile(name: str) -> None:
        if name == "scout":
            started.append(loop.time())
            if len(started) == 3:
                third.set()
        if len(started) < 3:
            watcher._readable()  # the flood goes on while every sweep runs
        await calls(name)

    watcher.on_change = overflowing_meanwhile
    watcher._readable()
    async with asyncio.timeout(10):
        await third.wait()
    assert started[1] - started[0] >= 0.5 and started[2] - started[1] >= 0.5


def test_a_huge_datagram_costs_the_loop_no_more_than_a_name() -> None:
    """A datagram may be 256 KiB (what the loop reads at once): only its last word is a name,
    and only its end is looked at, so a flood of big ones costs what a flood of names does."""
    huge = b"a " * (128 * 1024 - 8) + b"worker"
    assert agent_of_datagram(huge) == "worker"
    assert agent_of_datagram(b"x" * 256 * 1024) is None
    assert agent_of_datagram(b"y" * 40 + b"worker") is None  # one long word: no name
    started = time.perf_counter()
    for _ in range(1000):
        agent_of_datagram(huge)
    assert time.perf_counter() - started < 0.2  # a whole read of each: 0.8 s


async def test_a_flood_of_made_up_names_never_crowds_out_a_real_agents_ping() -> None:
    """Names the watcher does not know are dropped as they come, so however many arrive, a
    real agent's ping (its only word when the kernel's watches ran out) still goes through."""
    asked: list[str] = []

    async def on_ping(name: str) -> None:
        await asyncio.sleep(0.01)
        asked.append(name)

    pings = PingProtocol(on_ping, known={"worker", "scout"}.__contains__)
    for n in range(2 * MAX_IN_FLIGHT):
        pings.datagram_received(f"ghost-{n}".encode(), None)
    pings.datagram_received(b"worker", None)
    pings.datagram_received(b"scout", None)
    while pings.tasks:
        await asyncio.gather(*pings.tasks)
    assert sorted(asked) == ["scout", "worker"]


async def test_the_watcher_knows_its_agents_and_no_other_name(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    watcher, calls, root = watched
    assert watcher.knows("worker") and watcher.knows("scout")
    assert not watcher.knows("ghost")
    make_repo(proposed(root, "fresh"), "worker", upto=1)
    watcher.add("fresh")
    assert await calls.next() == "fresh"
    assert watcher.knows("fresh")


async def test_a_lock_by_name_is_kept_only_while_someone_holds_or_waits_for_it() -> None:
    """Whatever a name a caller sends (a push, a draft refused, a ping), the per-agent lock
    is gone once nobody holds or waits for it; while one holds it, another waits."""
    locks = KeyedLocks()
    for n in range(1000):
        async with locks(f"ghost-{n}"):
            pass
    assert locks._locks == {}
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with locks("worker"):
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with locks("worker"):
            order.append("second in")

    held = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(second())
    await asyncio.sleep(0.01)
    assert order == ["first in"]
    release.set()
    await asyncio.gather(held, waiting)
    assert order == ["first in", "first out", "second in"]
    assert locks._locks == {}
