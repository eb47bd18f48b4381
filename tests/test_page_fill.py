"""An approval page's file tables filled once per pinned pair and view, at the pin for the
default view, and never holding what belongs to one viewer (real hive, the real dashboard app
in process)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
import pytest

from gitops_hive.web.prerender import FILES_TEMPLATE
from gitops_hive.web.render_pool import RENDER_POOL
from tests.test_web import Dash, dash  # noqa: F401  (the dashboard fixture)

FILES = {"prompt.md": b"hi\n", "tool.py": b"x = 1\n", "notes/readme.md": b"# notes\n"}


async def _pinned(dash: Dash) -> tuple[int, tuple[Any, ...]]:  # noqa: F811
    approval = await dash.proposal("worker", FILES)
    head = (await dash.hive.approval(approval))["head"]
    pair = (await dash.hive.diff_base(approval, "deployed"), head, "page")
    return approval, pair


async def _until_filled(dash: Dash, key: tuple[Any, ...]) -> None:  # noqa: F811
    pool = dash.client.app[RENDER_POOL]
    for _ in range(500):
        if pool.filled_ready(key):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} never filled")


async def test_the_pinned_proposals_tables_are_filled_before_anyone_looks(
    dash: Dash,  # noqa: F811
) -> None:
    approval, pair = await _pinned(dash)
    await _until_filled(dash, (pair, "unified"))
    assert not dash.client.app[RENDER_POOL].filled_ready((pair, "split"))  # asked for, not ahead
    page = await dash.page(f"/approvals/{approval}")
    for path in FILES:
        assert f'<span class="path">{path}</span>' in page


@pytest.mark.parametrize("view", ["unified", "split"])
async def test_each_view_fills_its_tables_once_and_shows_every_file(
    dash: Dash,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    view: str,
) -> None:
    approval, pair = await _pinned(dash)
    await _until_filled(dash, (pair, "unified"))
    template = aiohttp_jinja2.get_env(dash.client.app).get_template(FILES_TEMPLATE)
    fills: list[str] = []
    render = template.render

    def counted(*args: Any, **kwargs: Any) -> str:
        fills.append(kwargs["view"])
        return render(*args, **kwargs)

    monkeypatch.setattr(template, "render", counted)
    pages = [await dash.page(f"/approvals/{approval}?view={view}") for _ in range(3)]
    assert fills == ([] if view == "unified" else ["split"])
    assert pages[0] == pages[1] == pages[2]
    for path in FILES:
        assert f'<span class="path">{path}</span>' in pages[0]
    assert ("code split" in pages[0]) == (view == "split")


async def test_the_shared_tables_hold_nothing_of_the_viewer(dash: Dash) -> None:  # noqa: F811
    approval, pair = await _pinned(dash)
    await _until_filled(dash, (pair, "unified"))
    page = await dash.page(f"/approvals/{approval}")
    tables_start = page.index('<details class="file"')
    tables_end = page.rindex("</details>")
    token = dash.guard.csrf_token
    assert token in page[:tables_start]  # the forms still carry it
    assert token not in page[tables_start:tables_end]
    # A decision changes the page around the tables, not the tables.
    await dash.hive.deny(approval, "not now", "test")
    denied = await dash.page(f"/approvals/{approval}")
    assert "Denied: not now" in denied and 'id="approve-button"' not in denied
    assert denied[denied.index('<details class="file"') :].startswith(page[tables_start:tables_end])
