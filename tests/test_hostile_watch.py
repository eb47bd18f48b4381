"""A hostile manager against the ref watcher and the hooks' ping socket: it writes every
agent's proposed/ (so it can link or move one agent's folders into another's) and can send
any datagram. One agent's repo or datagrams may cost that agent its watch, never another
agent's, never a folder outside the repos, never the controller's memory."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitops_hive.layout import HiveLayout
from gitops_hive.watcher import RefWatcher
from tests.repo_factory import git, make_repo
from tests.test_ref_watcher import Calls, commit, proposed


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[RefWatcher, Calls, Path]]:
    root = tmp_path / "hive"
    for name in ("scout", "worker"):
        make_repo(proposed(root, name), "worker", upto=1)
    calls = Calls()
    watcher = RefWatcher(HiveLayout(root), calls)
    await watcher.start()
    try:
        yield watcher, calls, root
    finally:
        watcher.stop()


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
