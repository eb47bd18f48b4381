"""Approval pages highlighted and filled the moment a proposal is pinned: its diff against the
deployed commit rendered in the render pool, off the event loop, and its file tables filled as
HTML, so the operator's first view costs the page's head, not the highlighting nor the 1.5 MB
of tables (pinned commits never change, so neither do the rows or the tables)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.web.control_api import HIVE_KEY
from gitops_hive.web.render import PageDiff
from gitops_hive.web.render_pool import RENDER_POOL, RenderPool

log = logging.getLogger(__name__)
FILES_TEMPLATE = "_diff_files.html"  # what page_files fills: the diff's file tables alone


async def page_diff(
    hive: Hive, pool: RenderPool, approval_id: int, base: str, head: str
) -> PageDiff:
    """The page's rows of the approval's diff against `base`, rendered once per pinned pair."""
    return await pool.page(
        await _pair(hive, approval_id, base, head), lambda: hive.diff(approval_id, base, "page")
    )


async def _pair(hive: Hive, approval_id: int, base: str, head: str) -> tuple[str | None, str, str]:
    return (await hive.diff_base(approval_id, base), head, "page")


async def page_files(
    hive: Hive,
    pool: RenderPool,
    env: jinja2.Environment,
    approval_id: int,
    base: str,
    head: str,
    view: str,
) -> tuple[PageDiff, Markup]:
    """The page's rows and its file tables as HTML in `view`, each made once per pinned pair:
    the tables hold the diff alone, never the viewer's token or the approval's state."""
    page = await page_diff(hive, pool, approval_id, base, head)
    template = env.get_template(FILES_TEMPLATE)
    key = (await _pair(hive, approval_id, base, head), view)
    html = await pool.filled(key, lambda: template.render(page=page, view=view))
    return page, Markup(html)


async def _follow(hive: Hive, pool: RenderPool, env: jinja2.Environment) -> None:
    async with hive.subscribe() as notices:
        while True:
            notice = await notices.get()
            if notice.get("kind") != "approval" or notice.get("status") != "pending":
                continue
            approval_id = int(notice["id"])
            try:
                approval = await hive.approval(approval_id)
                await page_files(
                    hive, pool, env, approval_id, "deployed", approval["head"], "unified"
                )
            except HiveError as exc:  # the page will say it, if anyone opens it
                log.debug("approval #%d: not highlighted ahead: %s", approval_id, exc.message)
            except Exception:
                log.exception("approval #%d: not highlighted ahead", approval_id)


async def _prerendering(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(
        _follow(app[HIVE_KEY], app[RENDER_POOL], aiohttp_jinja2.get_env(app))
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_prerendering(app: web.Application) -> None:
    """Highlight every newly pinned proposal in `app`'s render pool, one at a time."""
    app.cleanup_ctx.append(_prerendering)
