"""JSON over HTTP on aiohttp: replies, bodies, errors, peer credentials, unix sockets."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gitops_hive.errors import ConfigError, HiveError, LimitExceeded
from gitops_hive.layout import UNIX_PATH_MAX
from gitops_hive.web.limits import ListenerLimits
from gitops_hive.web.listeners import serve_guarded
from gitops_hive.web.log_throttle import THROTTLE

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_JSON_DEPTH = 32  # no request of the API nests deeper than a few levels


def json_reply(data: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=None))


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every HiveError becomes {"error", "code"} with its HTTP status."""
    try:
        return await handler(request)
    except HiveError as exc:
        return json_reply({"error": exc.message, "code": exc.code}, status=exc.status)
    except web.HTTPException:
        raise
    except ConnectionError:
        # The peer hung up mid-request: nobody reads an answer, and a peer can do it at will.
        THROTTLE.log(("reset", request.path), logging.INFO, "%s: caller hung up", request.path)
        return json_reply({"error": "the connection broke", "code": "bad_request"}, status=400)
    except Exception:
        THROTTLE.log(
            ("unexpected", request.method, request.path),
            logging.ERROR,
            "unexpected error on %s %s",
            request.method,
            request.path,
            exc_info=True,
        )
        return json_reply(
            {"error": "internal error; see the controller's log", "code": "internal"}, status=500
        )


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when there is none)."""
    if not request.can_read_body:
        return {}
    raw = await request.text()
    # Few brackets cannot nest deep: only a body with many is scanned.
    many = raw.count("[") + raw.count("{") > MAX_JSON_DEPTH
    depth = _nesting(raw) if many else 0
    if depth > MAX_JSON_DEPTH:
        raise HiveError(
            f"request body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted"
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # ValueError: also a number past int's 4300 digits
        raise HiveError("request body is not JSON") from None
    except web.HTTPRequestEntityTooLarge:
        raise LimitExceeded(
            f"the request body is over the {request.client_max_size} bytes this socket "
            "takes: send less"
        ) from None
    if not isinstance(data, dict):
        raise HiveError("request body must be a JSON object")
    try:
        # A lone surrogate ("\\ud800") is valid JSON but no text: sqlite and every page
        # would fail on it later, so it is refused here with the rest of a bad body.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise HiveError(
            "request body holds a lone surrogate (\\ud800-\\udfff): send text"
        ) from None
    return data


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings not counted)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process on the other end of a unix socket (SO_PEERCRED), else None."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return int(uid)


async def serve_unix_socket(
    app: web.Application, path: Path, limits: ListenerLimits, **runner: Any
) -> web.AppRunner:
    """Serve `app` within `limits` on a fresh unix socket at `path`, mode 0600 from the
    moment it exists; `runner` are more AppRunner options."""
    if len(os.fsencode(path)) > UNIX_PATH_MAX:
        raise ConfigError(
            f"socket path {path} is {len(os.fsencode(path))} bytes, over the {UNIX_PATH_MAX} "
            "a unix socket allows: use a hive root with a shorter path"
        )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old_umask)
        path.chmod(0o600)
        return await serve_guarded(app, limits, runner=runner, sock=sock)
    except BaseException:
        sock.close()
        raise
