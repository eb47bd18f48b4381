"""Listeners a peer cannot starve: a cap on open connections, and deadlines for receiving a
request's head and body (never for answering it)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gitops_hive.web.acceptor import BACKLOG, Acceptor
from gitops_hive.web.limits import ListenerLimits
from gitops_hive.web.log_throttle import THROTTLE

LINGER_SECONDS = 1.0  # after an early answer, how long a request's unread body is drained


def body_deadline(limits: ListenerLimits) -> Any:
    """A middleware that gives a request's body `limits.body_timeout` seconds to arrive
    whole (handlers read it first); a peer that has not sent it by then is answered 408, if
    nothing was answered yet, and cut off, which ends a handler waiting to read it."""

    @web.middleware
    async def receive_body(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(limits.body_timeout, _body_overdue, request, limits)
        try:
            return await handler(request)
        finally:
            timer.cancel()

    return receive_body


def _body_overdue(request: web.Request, limits: ListenerLimits) -> None:
    transport = request.transport
    if request.content.is_eof() or transport is None or transport.is_closing():
        return  # all of it arrived (read or not), or the peer is gone already
    THROTTLE.log(
        ("slow body", limits.name),
        logging.WARNING,
        "%s: cut off a peer that sent no whole request body within %g s "
        "(limits.request_body_timeout)",
        limits.name,
        limits.body_timeout,
    )
    if request.writer.output_size == 0:  # nothing answered yet: say why, then close
        transport.write(limits.body_too_slow())
        transport.close()
    else:
        transport.abort()


class GuardedSite(web.BaseSite):
    """An aiohttp site on the hive's own `Acceptor` (the cap, the head deadline), listening
    on `sock`, or on a new TCP socket at `host` and `port`."""

    def __init__(
        self,
        runner: web.AppRunner,
        limits: ListenerLimits,
        *,
        sock: socket.socket | None = None,
        host: str = "",
        port: int = 0,
    ) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self.limits = limits
        self._sock = sock
        self._address = (host, port)

    @property
    def name(self) -> str:
        return self.limits.name

    def _listening_socket(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        host, port = self._address
        # One address, as written: "127.0.0.1", "::1" (a name binds its first IPv4 address).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=BACKLOG)

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        acceptor = Acceptor(self.limits, server, [self._listening_socket()])
        acceptor.start()
        self._server = acceptor


async def serve_guarded(
    app: web.Application, limits: ListenerLimits, *, runner: dict[str, Any], **endpoint: Any
) -> web.AppRunner:
    """Serve `app` within `limits` on `endpoint` (GuardedSite's `sock`, or `host` and
    `port`); `runner` are more AppRunner options."""
    app.middlewares.insert(0, body_deadline(limits))
    app_runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        # After an answer, the next head must come within the head deadline too.
        keepalive_timeout=limits.head_timeout,
        lingering_time=LINGER_SECONDS,
        **runner,
    )
    await app_runner.setup()
    try:
        await GuardedSite(app_runner, limits, **endpoint).start()
    except BaseException:
        await app_runner.cleanup()
        raise
    return app_runner
