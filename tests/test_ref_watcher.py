"""The ref watcher on real repos and a real inotify descriptor: a move of main, the model
notes ref or packed-refs is seen at once; the index, objects and other branches wake
nothing; folders made later are watched; a planted link is never followed."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest
from inotify_simple import Event, flags

from gitops_hive import watcher as watcher_module
from gitops_hive.layout import HiveLayout
from gitops_hive.watcher import WATCHED, RefWatcher
from tests.ref_watching import Calls, commit, proposed
from tests.repo_factory import git, make_repo


async def test_a_commit_to_main_is_seen_once_and_for_its_agent_only(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    _, calls, root = watched
    commit(proposed(root, "worker"))
    assert await calls.next() == "worker"
    assert await calls.none_within() == []


async def test_the_index_objects_and_other_branches_wake_nothing(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    _, calls, root = watched
    repo = proposed(root, "worker")
    (repo / "prompt.md").write_text("staged, not committed\n")
    git(repo, "add", "prompt.md")  # the index
    git(repo, "hash-object", "-w", "prompt.md")  # an object
    git(repo, "branch", "side")  # another branch
    git(repo, "status", "--short")
    assert await calls.none_within() == []


async def test_a_first_note_then_another_and_packed_refs_are_seen(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    _, calls, root = watched
    repo = proposed(root, "scout")
    git(repo, "notes", "--ref=hive/model", "add", "-m", "model = haiku")  # refs/notes made
    assert await calls.next() == "scout"
    await calls.none_within()
    git(repo, "notes", "--ref=hive/model", "add", "-f", "-m", "model = sonnet")
    assert await calls.next() == "scout"
    await calls.none_within()
    git(repo, "pack-refs", "--all")  # main leaves refs/heads for packed-refs
    assert await calls.next() == "scout"


async def test_a_git_folder_made_again_is_watched_again(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    _, calls, root = watched
    repo = proposed(root, "worker")
    shutil.rmtree(repo / ".git")
    await calls.none_within()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    await calls.none_within()  # whatever the new .git's making woke, it is taken
    git(repo, "commit", "-qm", "history begins again")
    assert await calls.next() == "worker"


async def test_a_refs_folder_that_is_a_link_is_not_followed(
    watched: tuple[RefWatcher, Calls, Path], tmp_path: Path
) -> None:
    _, calls, root = watched
    repo = proposed(root, "worker")
    outside = tmp_path / "outside"
    outside.mkdir()
    notes = repo / ".git" / "refs" / "notes"
    if notes.exists():
        shutil.rmtree(notes)
    notes.symlink_to(outside, target_is_directory=True)
    await calls.none_within()
    (outside / "hive").mkdir()
    (outside / "hive" / "model").write_text("0" * 40 + "\n")
    (outside / "elsewhere").write_text("the operator's file\n")
    assert await calls.none_within() == []


async def test_a_new_agent_is_watched_and_looked_at_once(
    watched: tuple[RefWatcher, Calls, Path],
) -> None:
    watcher, calls, root = watched
    before = watcher.watches
    make_repo(proposed(root, "fresh"), "worker", upto=1)
    await calls.none_within()  # not watched yet: made while nobody looked
    watcher.add("fresh")
    assert await calls.next() == "fresh"
    # the work tree, .git, refs and refs/heads: refs/notes is made by a first note
    assert watcher.watches == before + len(WATCHED) - 2
    commit(proposed(root, "fresh"))
    assert await calls.next() == "fresh"


async def test_a_full_kernel_watch_table_is_said_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The kernel's limit (fs.inotify.max_user_watches) is machine-wide, so it is stood in
    for here: every add_watch is refused with ENOSPC, as the kernel refuses one past it."""
    root = tmp_path / "hive"
    for name in ("a", "b", "c"):
        make_repo(proposed(root, name), "worker", upto=1)

    class FullInotify(watcher_module.INotify):  # type: ignore[misc]
        def add_watch(self, path: object, mask: int) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(watcher_module, "INotify", FullInotify)
    watcher = RefWatcher(HiveLayout(root), Calls())
    await watcher.start()
    try:
        warnings = [r.getMessage() for r in caplog.records if r.name == "gitops_hive.watcher"]
        assert len(warnings) == 1
        assert "3 agents (a, b, c)" in warnings[0]
        assert "fs.inotify.max_user_watches" in warnings[0]
        assert watcher.watches == 0
    finally:
        watcher.stop()


async def test_lost_events_look_at_every_agent_and_overflows_meanwhile_make_one_more(
    watched: tuple[RefWatcher, Calls, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's queue overflowing (IN_Q_OVERFLOW) is stood in for: the descriptor's
    read says events were lost."""
    watcher, calls, _ = watched
    monkeypatch.setattr(watcher_module, "SWEEP_GAP", 0)  # tests/test_hostile_watch.py: the gap
    lost = Event(wd=-1, mask=flags.Q_OVERFLOW, cookie=0, name="")
    monkeypatch.setattr(watcher._inotify, "read", lambda timeout=0: [lost])
    for _ in range(3):  # before the sweep starts: it covers them all
        watcher._readable()
    assert await calls.none_within() == ["scout", "worker"]

    async def overflowing_meanwhile(name: str) -> None:
        if not calls.names:
            for _ in range(2):
                watcher._readable()
        await calls(name)

    watcher.on_change = overflowing_meanwhile
    watcher._readable()
    assert await calls.none_within() == ["scout", "worker", "scout", "worker"]
