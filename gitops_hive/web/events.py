"""Server-sent events at /api/events: change notices as they happen."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from gitops_hive.api import HIVE_KEY

KEEPALIVE_SECONDS = 15.0


async def stream_events(request: web.Request) -> web.StreamResponse:
    """Send every bus notice as an SSE `data:` line, with keep-alive comments."""
    hive = request.app[HIVE_KEY]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await response.write(b"retry: 1000\n: connected\n\n")
    async with hive.ctx.bus.subscribe() as queue:
        while True:
            try:
                notice = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            payload = json.dumps(notice)
            await response.write(f"event: {notice['kind']}\ndata: {payload}\n\n".encode())
