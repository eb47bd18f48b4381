"""Who may use the dashboard: token, session cookie, CSRF, Host and Origin checks, headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class Guard:
    """The secret and the Host allowlist one dashboard checks requests against.

    allowed_hosts is filled once the listening port is known (it may be 0 until bound).
    """

    token: str
    allowed_hosts: set[str] = field(default_factory=set)

    def _mac(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def session_value(self) -> str:
        """The session cookie: derived from the token, so rotating the token logs all out."""
        return self._mac("session-v1")

    @property
    def csrf_token(self) -> str:
        return self._mac("csrf-v1")

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip().encode(), self.token.encode())

    def is_authenticated(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and self.token_matches(auth[7:]):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value)

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
        if not guard.is_authenticated(request):
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
