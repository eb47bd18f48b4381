"""The dashboard application: pages, /api/, events, static files, behind the Guard."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from gitops_hive.durations import format_duration
from gitops_hive.hive import Hive
from gitops_hive.text import escape_hidden
from gitops_hive.web.actions import add_action_routes
from gitops_hive.web.control_api import HIVE_KEY, add_api_routes
from gitops_hive.web.events import add_event_routes
from gitops_hive.web.jsonhttp import errors_middleware
from gitops_hive.web.page_errors import page_errors
from gitops_hive.web.pages import add_page_routes
from gitops_hive.web.prerender import add_prerendering
from gitops_hive.web.render_pool import add_render_pool
from gitops_hive.web.security import GUARD_KEY, Guard, make_middlewares
from gitops_hive.web.terminal_api import add_terminal_routes

WEB_DIR = Path(__file__).resolve().parent


def _when(ts: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def _ago(seconds: float | None) -> str:
    return f"{format_duration(seconds)} ago" if seconds is not None else "never"


def _visible(value: object) -> object:
    """Every `{{ }}` of a page: hidden characters shown as escapes, never obeyed (a commit
    message, an env value or a question may carry a bidi override or a zero-width space)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape_hidden(value)
    return value


def make_web_app(hive: Hive, guard: Guard) -> web.Application:
    """The TCP app: every route but /login and /static needs the operator token."""
    app = web.Application(middlewares=[*make_middlewares(guard), errors_middleware, page_errors])
    app[HIVE_KEY] = hive
    app[GUARD_KEY] = guard
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(WEB_DIR / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.finalize = _visible
    env.filters["when"] = _when
    env.filters["short"] = _short
    env.filters["ago"] = _ago
    add_render_pool(app)
    add_prerendering(app)
    add_page_routes(app)
    add_action_routes(app)
    add_event_routes(app)
    add_api_routes(app)
    add_terminal_routes(app)
    app.router.add_static("/static/", WEB_DIR / "static", append_version=True)
    return app
