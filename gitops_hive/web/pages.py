"""The dashboard's HTML pages and the form posts behind their buttons."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from gitops_hive.approvals.rules import AGENT_STATUSES
from gitops_hive.approvals.views import BASES
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.listing import AgentQuery
from gitops_hive.numbers import whole_number
from gitops_hive.readable_log import readable
from gitops_hive.records import ApprovalStatus
from gitops_hive.sessions import SESSION_SECONDS
from gitops_hive.text import escape_unsafe
from gitops_hive.web.control_api import HIVE_KEY
from gitops_hive.web.paging import Pager
from gitops_hive.web.prerender import page_files
from gitops_hive.web.render import pygments_css
from gitops_hive.web.render_pool import RENDER_POOL
from gitops_hive.web.security import CSP, GUARD_KEY, LOGIN_COOKIE, SESSION_COOKIE, new_login_nonce
from gitops_hive.web.terminal_api import login_of

WEB_OPERATOR = "operator (web)"
ANSWERED_SHOWN = 10  # answered questions the overview keeps listed, newest first
INBOX_SHOWN = 20  # unread messages the agent page lists


def _common(request: web.Request) -> dict[str, Any]:
    return {"csrf": request.app[GUARD_KEY].csrf_token, "now": time.time()}


async def overview(request: web.Request) -> web.Response:
    hive = request.app[HIVE_KEY]
    shown = AgentQuery.parse({k: request.query.get(k, "") for k in ("status", "name")})
    matched = await hive.agent_page(shown)
    deployed = [a for a in matched.agents if a["status"] != "draft"]
    drafts = [a for a in matched.agents if a["status"] == "draft"]
    running = Pager.of(request, "offset", deployed)
    now = time.time()
    filters = {"status": shown.status or "", "name": shown.name or ""}
    context = {
        **_common(request),
        "pending": await hive.pending(),
        "running": running,
        "telemetry": await _telemetry(hive, [a["name"] for a in running.rows], now),
        "drafts": Pager.of(request, "drafts_offset", drafts),
        **await _questions(request),
        "counts": matched.counts,
        "total": sum(matched.counts.values()),
        "filters": filters,
        "statuses": AGENT_STATUSES,
        "live_url": "/?" + urlencode({**request.query, "fragment": "1"}),
    }
    template = "_overview_body.html" if request.query.get("fragment") else "overview.html"
    return aiohttp_jinja2.render_template(template, request, context)


async def _telemetry(hive: Hive, names: list[str], now: float) -> dict[str, Any]:
    """The shown rows' sparklines, asked for at once (a page of 50 waits for one round)."""
    lines = await asyncio.gather(*(hive.stats_line(name, now) for name in names))
    return dict(zip(names, lines, strict=True))


async def _questions(request: web.Request) -> dict[str, Any]:
    """The open questions, and the last answered ones with their answers."""
    hive = request.app[HIVE_KEY]
    still_open = await hive.questions(open_only=True)
    # The newest len(open) + N questions hold the N newest answered ones.
    newest = await hive.questions(open_only=False, limit=len(still_open) + ANSWERED_SHOWN)
    answered = [q.to_json() for q in newest if q.answered_at is not None]
    return {
        "questions": [q.to_json() for q in still_open],
        "answered": answered[:ANSWERED_SHOWN],
    }


def _approval_id(request: web.Request) -> int:
    found = whole_number(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such approval\n")
    return found


async def approval_page(request: web.Request) -> web.Response:
    hive = request.app[HIVE_KEY]
    approval_id = _approval_id(request)
    base = request.query.get("base", "deployed")
    if base not in BASES:
        raise HiveError(
            f"unknown base {base!r}: compare with one of {', '.join(BASES)} "
            f"(/approvals/{approval_id}?base=deployed)"
        )
    view = "split" if request.query.get("view") == "split" else "unified"
    approval = await hive.approval(approval_id)
    pool = request.app[RENDER_POOL]
    page = None
    files_html = Markup()
    base_error = None
    env = aiohttp_jinja2.get_env(request.app)
    try:
        page, files_html = await page_files(
            hive, pool, env, approval_id, base, approval["head"], view
        )
    except HiveError as exc:
        base_error = exc.message
    diff = page.diff if page else None
    context = {
        **_common(request),
        "a": approval,
        "base": base,
        "bases": BASES,
        "view": view,
        "diff": diff,
        "page": page,
        "files_html": files_html,
        "base_error": base_error,
        "warnings": page.warnings if page else [],
        "decidable": approval["status"] == ApprovalStatus.PENDING.value and approval["valid"],
    }
    name = "_approval_body.html" if request.query.get("fragment") else "approval.html"
    # The file tables come filled; what is left is small, but it runs off the loop too.
    template = env.get_template(name)
    html = await pool.run(template.render, context)
    return web.Response(text=html, content_type="text/html")


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v) for k, v in data.items()}


async def approve_form(request: web.Request) -> web.Response:
    approval_id = _approval_id(request)
    form = await _form(request)
    await request.app[HIVE_KEY].approve(approval_id, form.get("sha", ""), WEB_OPERATOR, wait=False)
    raise web.HTTPSeeOther(f"/approvals/{approval_id}")


async def deny_form(request: web.Request) -> web.Response:
    approval_id = _approval_id(request)
    form = await _form(request)
    await request.app[HIVE_KEY].deny(approval_id, form.get("reason"), WEB_OPERATOR)
    raise web.HTTPSeeOther(f"/approvals/{approval_id}")


async def answer_form(request: web.Request) -> web.Response:
    question_id = whole_number(request.match_info["id"])
    if question_id is None:
        raise web.HTTPNotFound(text="no such question\n")
    data = await request.post()
    # A pressed option button sends `option`; Enter in the text field sends only `answer`.
    sent = [*data.getall("option", []), *data.getall("answer", [])]
    answer = next((str(v) for v in sent if str(v).strip()), "")
    await request.app[HIVE_KEY].answer(question_id, answer, WEB_OPERATOR)
    raise web.HTTPSeeOther("/")


async def agent_page(request: web.Request) -> web.Response:
    hive = request.app[HIVE_KEY]
    name = request.match_info["name"]
    agent = await hive.agent(name)
    history = await hive.history(name, with_model=False)
    deployments = await hive.deployments(agent["name"])
    inbox = await hive.peek_inbox(agent["name"], 0)
    sent = request.query.get("sent", "")
    context = {
        **_common(request),
        "agent": agent,
        "draft": agent["status"] == "draft",
        # The last submission of the head proposed/ holds now: its validation, if it had one.
        "checked": next((h for h in history if h["head"] == agent["proposed"]), None),
        "history": history,
        "deployments": deployments,
        "model": await hive.model(agent["name"]),
        "inbox": [m.to_json() for m in inbox.messages[-INBOX_SHOWN:]],
        "unread": len(inbox.messages),
        "sent": whole_number(sent),
        "log_lines": readable(agent["log_tail"]),
        "raw_log": [escape_unsafe(line) for line in agent["log_tail"]],
    }
    template = "_agent_body.html" if request.query.get("fragment") else "agent.html"
    # xterm.js adds <style> elements: allowed by a nonce of this response, never unsafe-inline.
    nonce = secrets.token_urlsafe(16)
    context.update(terminal_isolated=hive.terminals.isolated, style_nonce=nonce)
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers["Content-Security-Policy"] = CSP.replace(
        "style-src 'self'", f"style-src 'self' 'nonce-{nonce}'"
    )
    return response


async def rollback_form(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await _form(request)
    await request.app[HIVE_KEY].rollback(name, form.get("to") or None, WEB_OPERATOR)
    raise web.HTTPSeeOther(f"/agents/{name}")


async def model_form(request: web.Request) -> web.Response:
    """Override the agent's model, or clear the override (the `clear` button)."""
    name = request.match_info["name"]
    form = await _form(request)
    model = None if form.get("clear") else form.get("model", "")
    await request.app[HIVE_KEY].set_model(name, model, form.get("reason"), WEB_OPERATOR)
    raise web.HTTPSeeOther(f"/agents/{name}#model")


async def login_page(request: web.Request) -> web.Response:
    nonce = new_login_nonce()
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"nonce": nonce, "error": request.query.get("error")}
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", max_age=600, path="/login"
    )
    return response


async def login_submit(request: web.Request) -> web.Response:
    guard = request.app[GUARD_KEY]
    form = await _form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or form.get("nonce") != nonce:
        raise web.HTTPForbidden(text="login form expired or CSRF token missing: reload /login\n")
    if not guard.token_matches(form.get("token", "")):
        raise web.HTTPSeeOther("/login?error=1")
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        SESSION_COOKIE,
        await guard.sessions.open(guard.token),
        httponly=True,
        samesite="Strict",
        max_age=SESSION_SECONDS,
        path="/",
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    """End this session for good: the cookie no longer works, even if it was copied."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        await request.app[GUARD_KEY].sessions.end(cookie)
        await request.app[HIVE_KEY].terminals.end("logged out", login=login_of(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def csrf_token(request: web.Request) -> web.Response:
    return web.json_response({"csrf": request.app[GUARD_KEY].csrf_token})


async def highlight_css(request: web.Request) -> web.Response:
    return web.Response(
        text=pygments_css(), content_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


def add_page_routes(app: web.Application) -> None:
    """Mount the pages and their form posts."""
    app.router.add_get("/", overview)
    app.router.add_get("/approvals/{id}", approval_page)
    app.router.add_post("/approvals/{id}/approve", approve_form)
    app.router.add_post("/approvals/{id}/deny", deny_form)
    app.router.add_post("/questions/{id}/answer", answer_form)
    app.router.add_get("/agents/{name}", agent_page)
    app.router.add_post("/agents/{name}/rollback", rollback_form)
    app.router.add_post("/agents/{name}/model", model_form)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/csrf", csrf_token)
    app.router.add_get("/static/highlight.css", highlight_css)
