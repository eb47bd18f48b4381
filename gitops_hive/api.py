"""The JSON API under /api/: the control socket serves it to hivectl, the dashboard to browsers."""

from __future__ import annotations

import json
import logging
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gitops_hive.diffs import render_patch, render_stat
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive

log = logging.getLogger(__name__)
HIVE_KEY = web.AppKey("hive", Hive)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=None))


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every HiveError becomes {"error", "code"} with its HTTP status."""
    try:
        return await handler(request)
    except HiveError as exc:
        return _json({"error": exc.message, "code": exc.code}, status=exc.status)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _json(
            {"error": "internal error; see the controller's log", "code": "internal"}, status=500
        )


def who(request: web.Request) -> str:
    """The operator behind a request: the peer's user on the control socket."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and sock.family == socket.AF_UNIX:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        try:
            return f"{pwd.getpwuid(uid).pw_name} (hivectl)"
        except KeyError:
            return f"uid {uid} (hivectl)"
    return "operator (web)"


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError:
        raise HiveError("request body is not JSON") from None
    if not isinstance(data, dict):
        raise HiveError("request body must be a JSON object")
    return data


def _approval_id(request: web.Request) -> int:
    raw = request.match_info["id"].lstrip("#")
    if not raw.isdigit():
        raise HiveError(f"approval id {raw!r} is not a number")
    return int(raw)


def _hive(request: web.Request) -> Hive:
    return request.app[HIVE_KEY]


async def health(request: web.Request) -> web.Response:
    return _json({"ok": True, "root": str(_hive(request).ctx.layout.root)})


async def list_agents(request: web.Request) -> web.Response:
    return _json(await _hive(request).agents())


async def create_agent(request: web.Request) -> web.Response:
    body = await _body(request)
    hive = _hive(request)
    if body.get("submit"):
        return _json((await hive.spawn(str(body.get("name", "")))).to_json(), status=201)
    return _json(await hive.draft(str(body.get("name", ""))), status=201)


async def get_agent(request: web.Request) -> web.Response:
    return _json(await _hive(request).agent(request.match_info["name"]))


async def agent_history(request: web.Request) -> web.Response:
    return _json(await _hive(request).history(request.match_info["name"]))


async def submit(request: web.Request) -> web.Response:
    body = await _body(request)
    ref = body.get("ref")
    approval = await _hive(request).submit(
        request.match_info["name"], str(ref) if ref else None, source=str(body.get("source", "cli"))
    )
    return _json(approval.to_json(), status=201)


async def rollback(request: web.Request) -> web.Response:
    body = await _body(request)
    to = body.get("to")
    approval = await _hive(request).rollback(
        request.match_info["name"], str(to) if to else None, who(request)
    )
    return _json(approval.to_json())


async def resume(request: web.Request) -> web.Response:
    approval = await _hive(request).resume(request.match_info["name"])
    return _json({"resumed": True, "submitted": approval.to_json() if approval else None})


async def list_approvals(request: web.Request) -> web.Response:
    status = request.query.get("status", "pending")
    if status != "pending":
        raise HiveError("only ?status=pending is listed here; use /api/agents/NAME/history")
    return _json(await _hive(request).pending())


async def get_approval(request: web.Request) -> web.Response:
    return _json(await _hive(request).approval(_approval_id(request)))


async def approval_diff(request: web.Request) -> web.Response:
    approval_id = _approval_id(request)
    diff = await _hive(request).diff(approval_id, request.query.get("base", "deployed"))
    fmt = request.query.get("format", "json")
    if fmt == "patch":
        return web.Response(text=render_patch(diff), content_type="text/plain")
    if fmt == "stat":
        return web.Response(text=render_stat(diff), content_type="text/plain")
    return _json(
        {
            "base": diff.base,
            "head": diff.head,
            "truncated": diff.truncated,
            "files": [f.to_json(with_hunks=request.query.get("stat") is None) for f in diff.files],
        }
    )


async def approve(request: web.Request) -> web.Response:
    body = await _body(request)
    sha = body.get("sha")
    if not isinstance(sha, str) or not sha:
        raise HiveError("approve needs the sha you reviewed: --sha SHA")
    approval = await _hive(request).approve(
        _approval_id(request), sha, who(request), wait=bool(body.get("wait", True))
    )
    return _json({**approval.to_json(), "log": approval.log})


async def deny(request: web.Request) -> web.Response:
    body = await _body(request)
    reason = body.get("reason")
    approval = await _hive(request).deny(
        _approval_id(request), str(reason) if reason is not None else None, who(request)
    )
    return _json(approval.to_json())


def add_api_routes(app: web.Application) -> None:
    """Mount every /api/ route on `app`."""
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents", create_agent)
    app.router.add_get("/api/agents/{name}", get_agent)
    app.router.add_get("/api/agents/{name}/history", agent_history)
    app.router.add_post("/api/agents/{name}/submit", submit)
    app.router.add_post("/api/agents/{name}/rollback", rollback)
    app.router.add_post("/api/agents/{name}/resume", resume)
    app.router.add_get("/api/approvals", list_approvals)
    app.router.add_get("/api/approvals/{id}", get_approval)
    app.router.add_get("/api/approvals/{id}/diff", approval_diff)
    app.router.add_post("/api/approvals/{id}/approve", approve)
    app.router.add_post("/api/approvals/{id}/deny", deny)


def make_control_app(hive: Hive) -> web.Application:
    """The app the control socket serves: file permissions (0600) are its auth."""
    app = web.Application(middlewares=[errors_middleware])
    app[HIVE_KEY] = hive
    add_api_routes(app)
    return app
