"""Approval pages highlighted the moment a proposal is pinned: its diff against the deployed
commit rendered in the render pool, off the event loop, so the operator's first view costs a
template fill, not the highlighting (pinned commits never change, so neither do the rows)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.web.control_api import HIVE_KEY
from gitops_hive.web.render import PageDiff
from gitops_hive.web.render_pool import RENDER_POOL, RenderPool

log = logging.getLogger(__name__)


async def page_diff(
    hive: Hive, pool: RenderPool, approval_id: int, base: str, head: str
) -> PageDiff:
    """The page's rows of the approval's diff against `base`, rendered once per pinned pair."""
    key = (await hive.diff_base(approval_id, base), head, "page")
    return await pool.page(key, lambda: hive.diff(approval_id, base, "page"))


async def _follow(hive: Hive, pool: RenderPool) -> None:
    async with hive.subscribe() as notices:
        while True:
            notice = await notices.get()
            if notice.get("kind") != "approval" or notice.get("status") != "pending":
                continue
            approval_id = int(notice["id"])
            try:
                approval = await hive.approval(approval_id)
                await page_diff(hive, pool, approval_id, "deployed", approval["head"])
            except HiveError as exc:  # the page will say it, if anyone opens it
                log.debug("approval #%d: not highlighted ahead: %s", approval_id, exc.message)
            except Exception:
                log.exception("approval #%d: not highlighted ahead", approval_id)


async def _prerendering(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_follow(app[HIVE_KEY], app[RENDER_POOL]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_prerendering(app: web.Application) -> None:
    """Highlight every newly pinned proposal in `app`'s render pool, one at a time."""
    app.cleanup_ctx.append(_prerendering)
