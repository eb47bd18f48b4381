"""Who may use the dashboard: token, session cookie, CSRF, Host and Origin checks, headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from gitops_hive.errors import ConfigError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "hive_session"
LOGIN_COOKIE = "hive_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIXES = ("/static/",)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def read_token(path: Path) -> str:
    """The operator token `init` wrote."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: run `hivectl init` to make a token") from None
    if len(token) < 16:
        raise ConfigError(f"{path} holds no usable token: delete it and run `hivectl init`")
    return token


class SessionBook(Protocol):
    """Where dashboard sessions live: hive.db, through the Hive (`sessions.OperatorSessions`)."""

    async def open(self, token: str) -> str: ...

    async def alive(self, cookie: str, token: str) -> bool: ...

    async def end(self, cookie: str) -> None: ...

    async def end_all_but(self, token: str) -> int: ...


@dataclass
class Guard:
    """The secret, the sessions and the Host allowlist one dashboard checks requests against.

    allowed_hosts is filled once the listening port is known (it may be 0 until bound). With a
    token_file, a changed file (`hivectl token --rotate`) is read again at the next request:
    the old token and every session issued under it stop working.
    """

    token: str
    sessions: SessionBook
    allowed_hosts: set[str] = field(default_factory=set)
    token_file: Path | None = None
    _stamp: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self.token_file is None:
            return None
        try:
            info = self.token_file.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def refresh(self) -> bool:
        """Read the token file again if it changed; True when the token did."""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp or self.token_file is None:
            return False
        self._stamp = stamp
        try:
            token = read_token(self.token_file)
        except ConfigError:
            return False  # half-written or emptied: keep the old token until it is whole
        changed = token != self.token
        self.token = token
        return changed

    def _mac(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def csrf_token(self) -> str:
        return self._mac("csrf-v1")

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip().encode(), self.token.encode())

    async def is_authenticated(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and self.token_matches(auth[7:]):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and await self.sessions.alive(cookie, self.token)

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser cross-site request; the CSRF token still applies
        scheme, _, host = origin.partition("://")
        return scheme in ("http", "https") and host in self.allowed_hosts


def allowed_hosts_for(host: str, port: int) -> set[str]:
    """Host header values that name this server (no DNS names but localhost)."""
    names = (
        {host, "127.0.0.1", "localhost", "[::1]"}
        if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")
        else {host}
    )
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return {f"{n}:{port}" for n in names}


def make_middlewares(guard: Guard) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    """Headers, Host allowlist, auth, then Origin and CSRF on every POST."""

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        if isinstance(response, web.HTTPException):
            raise response
        return response

    @web.middleware
    async def host_check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in guard.allowed_hosts:
            raise web.HTTPMisdirectedRequest(text="unknown Host header\n")
        return await handler(request)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return await handler(request)
        if guard.refresh():
            await guard.sessions.end_all_but(guard.token)
        if not await guard.is_authenticated(request):
            if path.startswith("/api/"):
                return web.json_response(
                    {
                        "error": "log in first: `hivectl token` prints a login URL",
                        "code": "unauthorized",
                    },
                    status=401,
                )
            raise web.HTTPFound("/login")
        return await handler(request)

    @web.middleware
    async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            if request.headers.get("Upgrade", "").lower() == "websocket" and not (
                guard.origin_allowed(request)
            ):
                raise web.HTTPForbidden(text="cross-origin websocket refused\n")
            return await handler(request)
        if not guard.origin_allowed(request):
            raise web.HTTPForbidden(text="cross-origin request refused\n")
        if request.path in PUBLIC_PATHS:
            return await handler(request)  # the login form checks its own token
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sent = str((await request.post()).get(CSRF_FIELD, ""))
        if not sent or not hmac.compare_digest(sent, guard.csrf_token):
            if request.path.startswith("/api/"):
                return web.json_response(
                    {"error": "missing or wrong CSRF token", "code": "csrf"}, status=403
                )
            raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page\n")
        return await handler(request)

    return [headers, host_check, auth, csrf]


def new_login_nonce() -> str:
    return secrets.token_urlsafe(16)


GUARD_KEY = web.AppKey("guard", Guard)
