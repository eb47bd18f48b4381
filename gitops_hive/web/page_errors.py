"""Errors on the dashboard's pages and form posts as an HTML page that says what to do;
`/api/` keeps its JSON errors (web/jsonhttp.py)."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from gitops_hive.errors import HiveError
from gitops_hive.web.jsonhttp import Handler
from gitops_hive.web.security import GUARD_KEY

log = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/static/")


def _back(request: web.Request) -> str:
    """Where the Back link goes: the referring page's path on this host, else the overview."""
    try:
        referer = URL(request.headers.get("Referer", "/"))
    except ValueError:
        return "/"
    if referer.is_absolute() and referer.host != request.url.host:
        return "/"
    path = referer.path_qs
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _page(request: web.Request, status: int, message: str) -> web.Response:
    context = {
        "csrf": request.app[GUARD_KEY].csrf_token,
        "status": status,
        "message": message.strip(),
        "back": _back(request),
    }
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refused page or form post renders error.html with the one-line reason."""
    if request.path.startswith(JSON_PREFIXES):
        return await handler(request)
    try:
        return await handler(request)
    except HiveError as exc:
        return _page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status in (401, 405):
            raise
        return _page(request, exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _page(request, 500, "internal error; see the controller's log")
