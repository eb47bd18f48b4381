"""Agent listings at size: filtered by status and name, paged, counted per status, and what
git tells of an agent kept only until it can have changed; approval pages highlighted at the
pin (real hive, real repos, the real dashboard app in process)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.errors import HiveError
from gitops_hive.listing import AgentQuery
from gitops_hive.web.paging import PAGE_SIZE
from gitops_hive.web.render_pool import RENDER_POOL
from tests.repo_factory import commit_step
from tests.test_web import Dash, dash  # noqa: F401  (the dashboard fixture)


async def test_a_listing_sees_a_commit_in_proposed_at_once(dash: Dash) -> None:  # noqa: F811
    hive = dash.hive
    await hive.draft("scout")
    before = (await hive.agents())[0]["proposed"]
    repo = hive.ctx.layout.agent("scout").proposed
    head = commit_step(repo, "worker", "02-add-tool")
    # No rescan: the listing itself sees the ref files move (a watch may miss an event).
    (listed,) = await hive.agents()
    assert listed["proposed"] == head != before
    assert listed["status"] == "draft"  # a draft's commits wait for an explicit submit


async def test_a_listing_sees_deploys_and_model_overrides(dash: Dash) -> None:  # noqa: F811
    hive = dash.hive
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    assert (await hive.agents())[0]["deployed"] is None
    head = (await hive.approval(approval))["head"]
    await hive.approve(approval, head, "test", wait=True)
    (listed,) = await hive.agents()
    assert listed["deployed"] == head and listed["status"] == "running"
    assert listed["model_source"] != "override"
    await hive.set_model("worker", "opus", "a harder task", "test")
    (listed,) = await hive.agents()
    assert (listed["model"], listed["model_source"]) == ("opus", "note")
    await hive.stop("worker", "test")
    assert (await hive.agents())[0]["status"] == "stopped"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"status": "sleeping"}, "status='sleeping' is not one of running, pending"),
        ({"offset": "-1"}, "offset='-1' is not a whole number"),
        ({"limit": "ten"}, "limit='ten' is not a whole number"),
        ({"limit": "0"}, "limit=0 lists nothing"),
    ],
)
def test_a_bad_query_says_what_was_wrong(query: dict[str, str], error: str) -> None:
    with pytest.raises(HiveError, match=error):
        AgentQuery.parse(query)


async def test_api_filters_pages_and_counts(dash: Dash) -> None:  # noqa: F811
    for name in ("scout-a", "scout-b", "scout-c", "miner"):
        await dash.hive.draft(name)
    await dash.proposal("worker", {"prompt.md": b"hi\n"})

    async def get(path: str) -> object:
        response = await dash.client.get(path, headers=dash.auth)
        assert response.status == 200, await response.text()
        return await response.json()

    names = [a["name"] for a in await get("/api/agents?name=scout")]  # type: ignore[attr-defined]
    assert names == ["scout-a", "scout-b", "scout-c"]
    paged = await get("/api/agents?status=draft&offset=1&limit=2")
    assert [a["name"] for a in paged] == ["scout-a", "scout-b"]  # type: ignore[attr-defined]
    page = await get("/api/agent-page?name=scout&limit=1")
    assert page["matched"] == 3 and len(page["agents"]) == 1  # type: ignore[index]
    assert page["counts"]["draft"] == 4 and page["counts"]["pending"] == 1  # type: ignore[index]
    response = await dash.client.get("/api/agents?status=asleep", headers=dash.auth)
    assert response.status == 400
    assert "is not one of" in (await response.json())["error"]


async def test_overview_pages_filters_and_counts(dash: Dash) -> None:  # noqa: F811
    names = [f"d{i:03d}" for i in range(PAGE_SIZE + 3)]
    for name in names:
        await dash.hive.draft(name)
    await dash.proposal("worker", {"prompt.md": b"hi\n"})

    first = await dash.page("/")
    drafts = first[first.index('id="drafts"') :]
    assert names[PAGE_SIZE - 1] in drafts and names[PAGE_SIZE] not in drafts
    assert f"1–{PAGE_SIZE} of {PAGE_SIZE + 3} drafts" in drafts
    assert 'href="/?drafts_offset=50" rel="next"' in drafts
    assert f"draft {PAGE_SIZE + 3}</a>" in first and "pending 1</a>" in first  # counts

    second = await dash.page("/?drafts_offset=50")
    drafts = second[second.index('id="drafts"') :]
    assert names[PAGE_SIZE] in drafts and names[0] not in drafts
    assert 'rel="prev"' in drafts and 'rel="next"' not in drafts

    pending = await dash.page("/?status=pending")
    assert "/agents/worker" in pending and "No draft matches this filter." in pending
    named = await dash.page("/?name=d00")
    assert "/agents/d009" in named and "/agents/d010" not in named
    assert "No agent matches this filter." in named
    assert 'data-live="/?name=d00&amp;fragment=1"' in named  # live updates keep the filter


async def test_a_pinned_proposal_is_highlighted_before_anyone_looks(dash: Dash) -> None:  # noqa: F811
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n", "tool.py": b"x = 1\n"})
    head = (await dash.hive.approval(approval))["head"]
    key = (await dash.hive.diff_base(approval, "deployed"), head, "page")
    pool = dash.client.app[RENDER_POOL]
    for _ in range(500):
        if pool.rendered(key):
            break
        await asyncio.sleep(0.01)
    assert pool.rendered(key)
    assert "tool.py" in await dash.page(f"/approvals/{approval}")


async def test_a_listing_stats_only_proposed_refs_and_sees_applied_writes(
    dash: Dash,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hive = dash.hive
    approval = await dash.proposal("worker", {"prompt.md": b"hi\n"})
    await hive.agents()
    applied = str(hive.ctx.layout.agent("worker").applied)
    looked: list[str] = []
    lstat = os.lstat

    def spied(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looked.append(os.fspath(path))
        return lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", spied)
    (listed,) = await hive.agents()
    assert looked and not [p for p in looked if p.startswith(applied)]
    assert listed["deployed"] is None
    # applied.git's refs move only by this process's writes, each counted: seen at once.
    before = repos.last_ref_write(applied)
    head = (await hive.approval(approval))["head"]
    await hive.approve(approval, head, "test", wait=True)
    assert repos.last_ref_write(applied) > before
    (listed,) = await hive.agents()
    assert listed["deployed"] == head
