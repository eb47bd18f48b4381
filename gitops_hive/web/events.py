"""Server-sent events at /api/events: change notices as they happen."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from gitops_hive.web.control_api import HIVE_KEY

log = logging.getLogger(__name__)

# A heartbeat event this often: a page that hears none for a few seconds shows the controller
# unreachable (static/app.js), so a hung controller is seen as quickly as a dead one.
HEARTBEAT_SECONDS = 2.0
# Set on shutdown: every open stream ends, so stopping the server never waits for a browser.
CLOSING_KEY = web.AppKey("events_closing", asyncio.Event)


async def _end_streams(app: web.Application) -> None:
    app[CLOSING_KEY].set()


def add_event_routes(app: web.Application) -> None:
    app[CLOSING_KEY] = asyncio.Event()
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/api/events", stream_events)


async def stream_events(request: web.Request) -> web.StreamResponse:
    """Send every bus notice as an SSE event, with a heartbeat event every 2 s."""
    hive = request.app[HIVE_KEY]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    closing = asyncio.ensure_future(request.app[CLOSING_KEY].wait())
    # Subscribed before the first line is sent: a client that read it misses nothing after.
    async with hive.subscribe() as queue:
        await response.prepare(request)
        await response.write(b"retry: 1000\n: connected\n\n")
        try:
            await _stream(response, queue, closing)
        except ConnectionResetError:  # the tab was closed: the end of a stream, not an error
            log.debug("event stream closed by the browser")
        finally:
            closing.cancel()
    return response


async def _stream(
    response: web.StreamResponse,
    queue: asyncio.Queue[dict[str, Any]],
    closing: asyncio.Future[Any],
) -> None:
    """Write notices until the server closes (a closed tab raises ConnectionResetError), and a
    heartbeat on time however many notices there are."""
    loop = asyncio.get_running_loop()
    beat_at = loop.time() + HEARTBEAT_SECONDS
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait(
            {getter, closing},
            timeout=max(0.0, beat_at - loop.time()),
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not getter.done():
            getter.cancel()
        if closing.done():
            return
        if getter.done():
            notice = getter.result()
            payload = json.dumps(notice)
            await response.write(f"event: {notice['kind']}\ndata: {payload}\n\n".encode())
        if loop.time() >= beat_at:
            await response.write(b"event: heartbeat\ndata: {}\n\n")
            beat_at = loop.time() + HEARTBEAT_SECONDS
