"""A huge proposal renders in bounded time and size, off the event loop: its approval page is
a few MB that say how to see the rest, `/api/health` answers while pages render, and one file
of it is shown in full by path."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pygit2

from gitops_hive.diffs import FileDiff
from gitops_hive.resources import template_files
from gitops_hive.web import render
from gitops_hive.web.render import FileView
from tests.hostile_trees import commit_into_proposed, grid
from tests.test_web import Dash
from tests.test_web import dash as dash  # the dashboard fixture

FOLDERS, FILES = 110, 1000  # 110,000 files
TEMPLATE_FILES = len(template_files("worker", "manager"))  # the draft's own files
PAGE_LIMIT = 3_000_000  # "a few MB"; the default web.max_page_bytes is 2,000,000


async def huge_proposal(dash: Dash) -> tuple[int, str]:
    """110,000 files of one blob each, committed into proposed/ and submitted."""
    await dash.hive.draft("worker")
    layout = dash.hive.ctx.layout

    def files(repo: pygit2.Repository) -> pygit2.Oid:
        return grid(repo, FOLDERS, FILES, repo.create_blob(b"hello\nworld\n"))

    head = await asyncio.to_thread(commit_into_proposed, layout, "worker", files, "data")
    approval = await dash.hive.submit("worker", None, source="test")
    assert approval.head == head
    return approval.id, head


async def test_a_110000_file_proposal_gives_a_page_of_a_few_mb_that_says_how_to_see_the_rest(
    dash: Dash,
) -> None:
    approval, _ = await huge_proposal(dash)
    started = time.monotonic()
    html = await dash.page(f"/approvals/{approval}")
    elapsed = time.monotonic() - started
    assert len(html.encode()) < PAGE_LIMIT, len(html)
    assert elapsed < 30  # bounded; the figures are benchmarks/huge_proposal.py's
    assert f"{FOLDERS * FILES + TEMPLATE_FILES} file(s)" in html  # against the empty tree
    assert 'id="collapsed-note"' in html and 'id="unlisted"' in html
    assert f"hivectl show {approval} --base deployed -- PATH" in html
    assert f"/api/approvals/{approval}/diff?format=patch" in html
    assert "data/dir000/f000000.txt" in html  # shown or listed, with its status
    assert "data/dir109/f000999.txt" not in html  # far past what the page lists

    fragment = await dash.page(f"/approvals/{approval}?fragment=1&view=split")
    assert len(fragment.encode()) < PAGE_LIMIT


async def test_one_file_of_a_huge_proposal_in_full_and_the_patch_bounded(dash: Dash) -> None:
    approval, _ = await huge_proposal(dash)
    base = f"/api/approvals/{approval}/diff"
    one = await dash.page(f"{base}?format=patch&path=data/dir109/f000999.txt")
    assert one.splitlines() == [
        "diff /dev/null b/data/dir109/f000999.txt (added)",
        "--- /dev/null",
        "+++ b/data/dir109/f000999.txt",
        "@@ -0,0 +1,2 @@",
        "+hello",
        "+world",
    ]
    missing = await dash.client.get(f"{base}?format=patch&path=no/such.txt", headers=dash.auth)
    assert missing.status == 404 and "no/such.txt" in (await missing.json())["error"]

    patch = await dash.page(f"{base}?format=patch")
    assert len(patch.encode()) < 10_000_000
    assert f"not listed (the listing stops after 4000); show one with `hivectl show {approval}" in (
        patch
    )
    stat = await dash.client.get(f"{base}?stat=1", headers=dash.auth)
    listing = await stat.json()
    assert listing["changed_files"] == FOLDERS * FILES + TEMPLATE_FILES
    assert len(listing["files"]) == 4000  # twice limits.max_files: all a valid one can change


async def test_health_answers_while_approval_pages_render(dash: Dash, monkeypatch: Any) -> None:
    approval = await dash.proposal("worker", {"prompt.md": b"a new plan\n"})
    rendering = threading.Event()
    release = threading.Event()
    real_file_view = render.file_view

    def slow_file_view(file: FileDiff, index: int) -> FileView:
        rendering.set()
        release.wait(10)  # a render that takes as long as the test wants
        return real_file_view(file, index)

    monkeypatch.setattr(render, "file_view", slow_file_view)
    views = [
        asyncio.ensure_future(dash.page(f"/approvals/{approval}")),
        asyncio.ensure_future(dash.page(f"/approvals/{approval}?view=split")),
    ]
    try:
        for _ in range(500):
            if rendering.is_set():
                break
            await asyncio.sleep(0.01)
        assert rendering.is_set()
        for _ in range(5):
            health = await asyncio.wait_for(
                dash.client.get("/api/health", headers=dash.auth), timeout=5
            )
            assert health.status == 200
        assert not any(view.done() for view in views)  # both still wait for the render
    finally:
        release.set()
    pages = await asyncio.gather(*views)
    assert all("a new plan" in page for page in pages)
