"""A terminal into an agent over a WebSocket: a ticket by POST, then the socket spends it.

Binary frames carry the terminal's bytes both ways; text frames carry JSON: from the
client `{"resize": [cols, rows]}`, from the server `{"ended": reason}` before it closes.
On the dashboard the Guard has already checked the session, the CSRF token of the POST and
the Origin of the upgrade; the ticket must come back from the same login that asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from gitops_hive.sessions import digest
from gitops_hive.terminals.sessions import TerminalSession
from gitops_hive.web.control_api import HIVE_KEY, who
from gitops_hive.web.jsonhttp import json_body, json_reply
from gitops_hive.web.security import GUARD_KEY, SESSION_COOKIE

MAX_FRAME = 1 << 16
LOGIN_CHECK_EVERY = 5.0  # seconds between checks that the dashboard login still holds


def login_of(request: web.Request) -> str | None:
    """Which dashboard login a request belongs to (a hash of its cookie); None: hivectl."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return digest(cookie) if cookie else None


def _size(raw: object, default: int) -> int:
    """A terminal dimension from the client, 1 to 1000; anything but a short run of ASCII
    digits ("²" is a digit to str.isdigit, not to int) is the default."""
    text = str(raw) if isinstance(raw, int | str) else ""
    if not (text.isascii() and text.isdecimal()) or len(text) > 6:
        return default
    return max(1, min(int(text), 1000))


async def ticket(request: web.Request) -> web.Response:
    """POST /api/agents/NAME/terminal: a one-time ticket, valid 30 s."""
    await json_body(request)
    reply = await request.app[HIVE_KEY].terminals.ticket(
        request.match_info["name"], who(request), login_of(request)
    )
    return json_reply(reply, status=201)


async def _pump_out(session: TerminalSession, ws: web.WebSocketResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):  # the operator hung up first
        while (chunk := await session.output()) is not None:
            await ws.send_bytes(chunk)
        await ws.send_str(json.dumps({"ended": session.ended}))
        await ws.close()


async def _take_input(session: TerminalSession, ws: web.WebSocketResponse) -> None:
    async for message in ws:
        if message.type is WSMsgType.BINARY:
            await session.input(message.data)
        elif message.type is WSMsgType.TEXT:
            try:
                control = json.loads(message.data)
                cols, rows = control["resize"]
                session.resize(_size(cols, 80), _size(rows, 24))
            except (ValueError, KeyError, TypeError):
                continue  # not a control message we know: ignore it, never type it


async def _watch_login(request: web.Request, session: TerminalSession) -> None:
    """End the session once its login expires or the token is rotated (logout ends it at once)."""
    guard = request.app.get(GUARD_KEY)
    if guard is None:
        return  # the control socket: its file permissions are the auth, and they hold
    while session.ended is None:
        await asyncio.sleep(LOGIN_CHECK_EVERY)
        if guard.refresh():
            await guard.sessions.end_all_but(guard.token)
        if not await guard.is_authenticated(request):
            await session.end("the login ended")


async def terminal_socket(request: web.Request) -> web.StreamResponse:
    """GET /api/agents/NAME/terminal/ws?ticket=T&cols=C&rows=R: the session itself."""
    session = await request.app[HIVE_KEY].terminals.open(
        request.match_info["name"],
        request.query.get("ticket", ""),
        login_of(request),
        _size(request.query.get("cols"), 80),
        _size(request.query.get("rows"), 24),
    )
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=30)
    try:
        await ws.prepare(request)
        await ws.send_str(json.dumps({"where": session.command.where}))
        pump = asyncio.create_task(_pump_out(session, ws))
        login = asyncio.create_task(_watch_login(request, session))
        try:
            await _take_input(session, ws)
        finally:
            login.cancel()
            await session.end("closed by the operator")
            await pump
    finally:
        await session.end("closed by the operator")
    return ws


def add_terminal_routes(app: web.Application) -> None:
    """Mount the terminal's ticket and socket routes."""
    app.router.add_post("/api/agents/{name}/terminal", ticket)
    app.router.add_get("/api/agents/{name}/terminal/ws", terminal_socket)
