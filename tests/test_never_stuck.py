"""No approval is ever stuck: a tree too deep or too wide is refused at submission, a build
that fails in any way ends `failed` in one line with a notice, and an approval left building
on a base that is no longer deployed ends `superseded` at restart, the running agent left be.

The hostile commits are written into proposed/.git the way a manager could: objects and a
ref, here with pygit2.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import Conflict, InvalidProposal
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.records import ApprovalStatus
from gitops_hive.repos import trees
from gitops_hive.store import queries
from gitops_hive.validation import Limits, TreeCut
from tests.conftest import make_root
from tests.hostile_trees import MANAGER_SIG, commit_into_proposed, nested, wide
from tests.repo_factory import git


async def open_hive(layout: HiveLayout) -> Hive:
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    await hive.start()
    return hive


@pytest.fixture
def layout(tmp_path: Path) -> HiveLayout:
    return HiveLayout(make_root(tmp_path / "hive"))


@pytest.fixture
async def hive(layout: HiveLayout) -> AsyncIterator[Hive]:
    hive = await open_hive(layout)
    try:
        yield hive
    finally:
        await hive.close()


async def inbox(hive: Hive, name: str) -> list[dict[str, Any]]:
    return [m.to_json() for m in (await hive.peek_inbox(name, 0)).messages]


# A tree too deep or too wide: refused at submission, listed only up to the limits


async def test_a_tree_3000_folders_deep_is_refused_at_submission_with_its_reason(
    hive: Hive, layout: HiveLayout
) -> None:
    await hive.draft("worker")
    head = commit_into_proposed(
        layout, "worker", lambda repo: nested(repo, 3000, repo.create_blob(b"x\n")), "deep"
    )
    approval = await hive.submit("worker", None, source="test")
    assert approval.head == head
    assert not approval.valid
    reasons = [e["message"] for e in approval.errors]
    assert any("limits.max_depth = 32" in r and "more than 32 deep" in r for r in reasons), reasons
    with pytest.raises(InvalidProposal, match="max_depth"):
        await hive.approve(approval.id, head, "operator")
    assert (await hive.approval(approval.id))["status"] == "pending"


async def test_a_tree_over_the_file_limit_is_refused_naming_the_setting(
    hive: Hive, layout: HiveLayout
) -> None:
    await hive.draft("worker")
    commit_into_proposed(
        layout, "worker", lambda repo: wide(repo, 2500, repo.create_blob(b"x\n")), "many"
    )
    approval = await hive.submit("worker", None, source="test")
    reasons = [e["message"] for e in approval.errors]
    assert "more than 2000 files or folders; the limit is limits.max_files = 2000" in reasons


def test_listing_a_tree_stops_at_the_depth_and_file_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = tmp_path / "applied.git"
    repos.init_applied(applied)
    repo = pygit2.Repository(str(applied))
    blob = repo.create_blob(b"x\n")
    deep = repo.create_commit(None, MANAGER_SIG, MANAGER_SIG, "deep", nested(repo, 3000, blob), [])
    broad = repo.create_commit(
        None, MANAGER_SIG, MANAGER_SIG, "wide", wide(repo, 100_000, blob), []
    )
    opened: list[object] = []
    real_peel = trees.peel_tree

    def counting_peel(repo: pygit2.Repository, oid: Any) -> pygit2.Tree:
        opened.append(oid)
        return real_peel(repo, oid)

    monkeypatch.setattr(trees, "peel_tree", counting_peel)
    limits = Limits(max_file_bytes=100, max_tree_bytes=10_000, max_files=50, max_depth=32)

    listing = repos.list_tree(applied, str(deep), limits)
    assert listing.cut is TreeCut.DEPTH
    assert listing.entries == ()
    assert len(opened) <= limits.max_depth + 1  # not 3,000 trees read

    listing = repos.list_tree(applied, str(broad), limits)
    assert listing.cut is TreeCut.FILES
    assert len(listing.entries) == limits.max_files + 1  # not 100,000 entries listed


# A build that fails in a way nobody foresaw


async def test_a_build_that_raises_unexpectedly_ends_failed_in_one_line_with_a_notice(
    hive: Hive, layout: HiveLayout, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    await hive.draft("manager")
    spawned = await hive.spawn("worker")

    async def apply(launch: Any) -> None:
        # What writing a 3,000-deep tree raised: not a HiveError, a long text of its own.
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), "d/" * 3000)

    monkeypatch.setattr(hive.ctx.runtime, "apply", apply)
    with caplog.at_level(logging.ERROR):
        built = await hive.approve(spawned.id, spawned.head, "operator", wait=True)

    assert built.status is ApprovalStatus.FAILED
    assert built.reason is not None and "\n" not in built.reason
    assert "File name too long" in built.reason and len(built.reason) < 400
    assert built.log is not None and "Traceback" not in built.log
    assert [r for r in caplog.records if r.exc_info and "approval #" in r.getMessage()]
    (notice,) = [m for m in await inbox(hive, "manager") if m["kind"] == "approval_failed"]
    assert "\n" not in notice["data"]["error"] and "File name too long" in notice["body"]

    with pytest.raises(Conflict, match="already failed"):
        await hive.deny(spawned.id, "too late", "operator")
    with pytest.raises(Conflict, match="already failed"):
        await hive.approve(spawned.id, spawned.head, "operator")
    assert (await hive.agent("worker"))["status"] == "failed"
    assert repos.get_ref(layout.agent("worker").applied, repos.MAIN) is None


# Restart with an approval left building on a base that is no longer deployed


def commit_file(layout: HiveLayout, name: str, path: str, text: str) -> str:
    work = layout.agent(name).proposed
    (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", f"write {path}")
    return git(work, "rev-parse", "HEAD")


async def test_at_restart_a_build_on_an_old_base_is_superseded_and_the_agent_left_running(
    layout: HiveLayout,
) -> None:
    hive = await open_hive(layout)
    try:
        await hive.draft("manager")
        spawned = await hive.spawn("worker")
        first = await hive.approve(spawned.id, spawned.head, "operator")
        assert first.status is ApprovalStatus.DEPLOYED
        commit_file(layout, "worker", "prompt.md", "old plan\n")
        old = await hive.submit("worker", None, source="test")
        # The controller stopped after recording the build, before doing any of it.
        async with hive.ctx.db.write() as conn:
            await queries.transition(
                conn, old.id, (ApprovalStatus.PENDING,), ApprovalStatus.APPROVED
            )
            await queries.transition(
                conn, old.id, (ApprovalStatus.APPROVED,), ApprovalStatus.BUILDING
            )
        commit_file(layout, "worker", "prompt.md", "new plan\n")
        new = await hive.submit("worker", None, source="test")
        deployed = await hive.approve(new.id, new.head, "operator")
        assert deployed.status is ApprovalStatus.DEPLOYED
    finally:
        await hive.close()

    hive = await open_hive(layout)
    try:
        running = hive.ctx.runtime.status("worker")
        assert running.sha == new.head
        await asyncio.gather(*hive.ctx.tasks)
        stale = await hive.approval(old.id)
        assert stale["status"] == "superseded"
        assert "submit it again" in stale["reason"] and new.head[:12] in stale["reason"]
        assert repos.get_ref(layout.agent("worker").applied, repos.MAIN) == new.head
        after = hive.ctx.runtime.status("worker")
        assert (after.sha, after.pid) == (new.head, running.pid)
        assert [d.sha for d in await hive.deployments("worker")] == [new.head, spawned.head]
        notices = [m for m in await inbox(hive, "manager") if m["kind"] == "approval_superseded"]
        assert [n["data"]["approval"] for n in notices] == [old.id]
        with pytest.raises(Conflict, match="already superseded"):
            await hive.deny(old.id, "late", "operator")
    finally:
        await hive.close()
