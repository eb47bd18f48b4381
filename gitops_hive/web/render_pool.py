"""Rendering off the event loop: a small thread pool of the dashboard's own, so highlighting a
diff and filling a template never hold up /api/health, the agents' sockets or another page;
one diff and render per (base, head) at a time, the last few kept, and the file tables of the
last few pages filled once per view (the same for every viewer: nothing per request in them)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from aiohttp import web

from gitops_hive.diffs import ProposalDiff
from gitops_hive.web.render import PageDiff, page_views

T = TypeVar("T")
WORKERS = 2  # renders at once; the rest wait their turn, not the event loop
KEPT = 8  # pages' rows kept: pinned commits never change, so neither does their diff
FILLED_KEPT = 4  # file tables kept as HTML: a 5,000-line diff fills about 1.5 MB


class RenderPool:
    """Runs the page's CPU-bound work in its own threads; a view of a diff being made waits
    for that one instead of starting another, and a later view reuses it."""

    def __init__(self, workers: int = WORKERS, kept: int = KEPT, filled: int = FILLED_KEPT) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hive-render")
        self._pages: _Kept[PageDiff] = _Kept(kept)
        self._filled: _Kept[str] = _Kept(filled)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in a render thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def page(
        self, key: Hashable, make_diff: Callable[[], Awaitable[ProposalDiff]]
    ) -> PageDiff:
        """The page's rows of the diff `key` names (pinned shas: the same diff every time),
        made by `make_diff` and rendered here the first time it is asked for."""
        return await self._pages.get_or_start(key, lambda: self._render(make_diff))

    async def filled(self, key: Hashable, fill: Callable[[], str]) -> str:
        """The HTML `fill()` makes for `key` (a pinned pair and a view), filled in a render
        thread the first time it is asked for. `fill` must hold nothing per viewer."""
        return await self._filled.get_or_start(key, lambda: self.run(fill))

    def rendered(self, key: Hashable) -> bool:
        """Whether the rows of the diff `key` names are kept, ready."""
        return self._pages.ready(key)

    def filled_ready(self, key: Hashable) -> bool:
        """Whether the HTML `filled` makes for `key` is kept, ready."""
        return self._filled.ready(key)

    async def _render(self, make_diff: Callable[[], Awaitable[ProposalDiff]]) -> PageDiff:
        return await self.run(page_views, await make_diff())

    def close(self) -> None:
        """Drop queued renders; a running one finishes in its thread."""
        self._pages.cancel()
        self._filled.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Kept(Generic[T]):
    """The last few results by key, each made once: a second asker waits for the first's."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._futures: OrderedDict[Hashable, asyncio.Future[T]] = OrderedDict()

    async def get_or_start(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        future = self._futures.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            future.add_done_callback(lambda done: self._forget_failed(key, done))
            self._futures[key] = future
            while len(self._futures) > self._size:
                self._futures.popitem(last=False)
        self._futures.move_to_end(key)
        # A viewer who leaves does not cancel the work the next one will want.
        return await asyncio.shield(future)

    def ready(self, key: Hashable) -> bool:
        future = self._futures.get(key)
        return (
            future is not None
            and future.done()
            and not future.cancelled()
            and (future.exception() is None)
        )

    def _forget_failed(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if (done.cancelled() or done.exception() is not None) and self._futures.get(key) is done:
            del self._futures[key]

    def cancel(self) -> None:
        for future in self._futures.values():
            future.cancel()


RENDER_POOL = web.AppKey("render_pool", RenderPool)


def add_render_pool(app: web.Application) -> None:
    """Give `app` its render pool, closed when the app is cleaned up."""
    pool = RenderPool()
    app[RENDER_POOL] = pool

    async def close(app: web.Application) -> None:
        pool.close()

    app.on_cleanup.append(close)
