"""Rendering off the event loop: a small thread pool of the dashboard's own, so highlighting a
diff and filling a template never hold up /api/health, the agents' sockets or another page;
one diff and render per (base, head) at a time, the last few kept."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from gitops_hive.diffs import ProposalDiff
from gitops_hive.web.render import PageDiff, page_views

T = TypeVar("T")
WORKERS = 2  # renders at once; the rest wait their turn, not the event loop
KEPT = 8  # pages' rows kept: pinned commits never change, so neither does their diff


class RenderPool:
    """Runs the page's CPU-bound work in its own threads; a view of a diff being made waits
    for that one instead of starting another, and a later view reuses it."""

    def __init__(self, workers: int = WORKERS, kept: int = KEPT) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hive-render")
        self._kept = kept
        self._pages: OrderedDict[Hashable, asyncio.Future[PageDiff]] = OrderedDict()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in a render thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def page(
        self, key: Hashable, make_diff: Callable[[], Awaitable[ProposalDiff]]
    ) -> PageDiff:
        """The page's rows of the diff `key` names (pinned shas: the same diff every time),
        made by `make_diff` and rendered here the first time it is asked for."""
        future = self._pages.get(key)
        if future is None:
            future = asyncio.ensure_future(self._render(make_diff))
            future.add_done_callback(lambda done: self._forget_failed(key, done))
            self._pages[key] = future
            while len(self._pages) > self._kept:
                self._pages.popitem(last=False)
        self._pages.move_to_end(key)
        # A viewer who leaves does not cancel the render the next one will want.
        return await asyncio.shield(future)

    def rendered(self, key: Hashable) -> bool:
        """Whether the rows of the diff `key` names are kept, ready."""
        future = self._pages.get(key)
        return (
            future is not None
            and future.done()
            and not future.cancelled()
            and (future.exception() is None)
        )

    async def _render(self, make_diff: Callable[[], Awaitable[ProposalDiff]]) -> PageDiff:
        return await self.run(page_views, await make_diff())

    def _forget_failed(self, key: Hashable, done: asyncio.Future[PageDiff]) -> None:
        if (done.cancelled() or done.exception() is not None) and self._pages.get(key) is done:
            del self._pages[key]

    def close(self) -> None:
        """Drop queued renders; a running one finishes in its thread."""
        for future in self._pages.values():
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


RENDER_POOL = web.AppKey("render_pool", RenderPool)


def add_render_pool(app: web.Application) -> None:
    """Give `app` its render pool, closed when the app is cleaned up."""
    pool = RenderPool()
    app[RENDER_POOL] = pool

    async def close(app: web.Application) -> None:
        pool.close()

    app.on_cleanup.append(close)
