"""The JSON API under /api/: the control socket serves it to hivectl, the dashboard to browsers."""

from __future__ import annotations

import asyncio
import logging
import pwd
import time

from aiohttp import web

from gitops_hive.diffs import render_patch, render_stat
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.listing import AgentQuery
from gitops_hive.messaging.rules import require_text
from gitops_hive.numbers import whole_number
from gitops_hive.telemetry.views import parse_query
from gitops_hive.web.jsonhttp import errors_middleware, json_body, json_reply, peer_uid

log = logging.getLogger(__name__)
HIVE_KEY = web.AppKey("hive", Hive)


def who(request: web.Request) -> str:
    """The operator behind a request: the peer's user on the control socket."""
    uid = peer_uid(request)
    if uid is None:
        return "operator (web)"
    try:
        return f"{pwd.getpwuid(uid).pw_name} (hivectl)"
    except KeyError:
        return f"uid {uid} (hivectl)"


def _whole_number(request: web.Request, what: str, advice: str) -> int:
    raw = request.match_info["id"]
    found = whole_number(raw)
    if found is None:
        raise HiveError(f"{what} id {raw[:40]!r} is not a number: {advice}")
    return found


def _approval_id(request: web.Request) -> int:
    return _whole_number(request, "approval", "`hivectl pending` lists the open ones")


def _hive(request: web.Request) -> Hive:
    return request.app[HIVE_KEY]


async def health(request: web.Request) -> web.Response:
    return json_reply({"ok": True, "root": str(_hive(request).root)})


async def list_agents(request: web.Request) -> web.Response:
    """?status=S, ?name=PART, ?offset=N, ?limit=N: the agents that match, that page of them."""
    return json_reply(await _hive(request).agents(AgentQuery.parse(request.query)))


async def agent_page(request: web.Request) -> web.Response:
    """The same query, answered with how many matched and the counts per status."""
    page = await _hive(request).agent_page(AgentQuery.parse(request.query))
    return json_reply(page.to_json())


async def create_agent(request: web.Request) -> web.Response:
    body = await json_body(request)
    hive = _hive(request)
    if body.get("submit"):
        return json_reply((await hive.spawn(str(body.get("name", "")))).to_json(), status=201)
    return json_reply(await hive.draft(str(body.get("name", ""))), status=201)


async def get_agent(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).agent(request.match_info["name"]))


async def agent_history(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).history(request.match_info["name"]))


async def submit(request: web.Request) -> web.Response:
    body = await json_body(request)
    ref = body.get("ref")
    approval = await _hive(request).submit(
        request.match_info["name"], str(ref) if ref else None, source=str(body.get("source", "cli"))
    )
    return json_reply(approval.to_json(), status=201)


async def rollback(request: web.Request) -> web.Response:
    body = await json_body(request)
    to = body.get("to")
    approval = await _hive(request).rollback(
        request.match_info["name"], str(to) if to else None, who(request)
    )
    return json_reply(approval.to_json())


async def resume(request: web.Request) -> web.Response:
    approval = await _hive(request).resume(request.match_info["name"])
    return json_reply({"resumed": True, "submitted": approval.to_json() if approval else None})


async def list_approvals(request: web.Request) -> web.Response:
    status = request.query.get("status", "pending")
    if status != "pending":
        raise HiveError("only ?status=pending is listed here; use /api/agents/NAME/history")
    return json_reply(await _hive(request).pending())


async def get_approval(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).approval(_approval_id(request)))


async def approval_diff(request: web.Request) -> web.Response:
    """?format=json|patch|stat, ?base=..., and ?path=P (repeatable): those files alone, in
    full. Without paths, as much as a valid proposal can change is listed; the rest counted."""
    approval_id = _approval_id(request)
    fmt = request.query.get("format", "json")
    stat = fmt == "stat" or request.query.get("stat") is not None
    diff = await _hive(request).diff(
        approval_id,
        request.query.get("base", "deployed"),
        "stat" if stat else "patch",
        request.query.getall("path", []),
    )
    if fmt in ("patch", "stat"):
        render = render_stat if fmt == "stat" else render_patch
        text = await asyncio.to_thread(render, diff, approval_id)  # up to thousands of files
        return web.Response(text=text, content_type="text/plain")
    return json_reply(
        {
            "base": diff.base,
            "head": diff.head,
            "truncated": diff.truncated,
            "changed_files": diff.changed_files,
            "unlisted": diff.unlisted,
            "files": [f.to_json(with_hunks=not stat) for f in diff.files],
        }
    )


async def approve(request: web.Request) -> web.Response:
    body = await json_body(request)
    sha = body.get("sha")
    if not isinstance(sha, str) or not sha:
        raise HiveError("approve needs the sha you reviewed: --sha SHA")
    approval = await _hive(request).approve(
        _approval_id(request), sha, who(request), wait=bool(body.get("wait", True))
    )
    return json_reply({**approval.to_json(), "log": approval.log})


async def deny(request: web.Request) -> web.Response:
    body = await json_body(request)
    reason = body.get("reason")
    approval = await _hive(request).deny(
        _approval_id(request), str(reason) if reason is not None else None, who(request)
    )
    return json_reply(approval.to_json())


async def get_model(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).model(request.match_info["name"]))


async def set_model(request: web.Request) -> web.Response:
    """Body: {"model": NAME, "reason": TEXT} to override, {"clear": true} to clear."""
    body = await json_body(request)
    model, reason, clear = body.get("model"), body.get("reason"), body.get("clear") is True
    if clear == bool(model):
        raise HiveError('give "model" (one of hive.toml `models`) or "clear": true')
    if model is not None and not isinstance(model, str):
        raise HiveError('"model" must be a string')
    if reason is not None and not isinstance(reason, str):
        raise HiveError('"reason" must be a string')
    result = await _hive(request).set_model(
        request.match_info["name"], None if clear else model, reason, who(request)
    )
    return json_reply(result)


async def stop_agent(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).stop(request.match_info["name"], who(request)))


async def start_agent(request: web.Request) -> web.Response:
    return json_reply(await _hive(request).start_agent(request.match_info["name"], who(request)))


async def send_message(request: web.Request) -> web.Response:
    body = await json_body(request)
    message = await _hive(request).send(
        require_text(body.get("to"), "to"), require_text(body.get("body"), "body")
    )
    return json_reply(message.to_json(), status=201)


async def agent_inbox(request: web.Request) -> web.Response:
    raw = request.query.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise HiveError(f"wait {raw!r} is not a number of seconds") from None
    delivery = await _hive(request).peek_inbox(request.match_info["name"], wait)
    return json_reply(delivery.to_json())


async def list_questions(request: web.Request) -> web.Response:
    open_only = request.query.get("all") is None
    found = await _hive(request).questions(open_only=open_only)
    return json_reply([q.to_json() for q in found])


async def answer_question(request: web.Request) -> web.Response:
    question_id = _whole_number(request, "question", "`hivectl questions` lists the open ones")
    body = await json_body(request)
    answered = await _hive(request).answer(question_id, body.get("answer"), who(request))
    return json_reply(answered.to_json())


async def get_stats(request: web.Request) -> web.Response:
    now = time.time()
    q = request.query
    query = parse_query(q.get("agent"), q.get("since"), q.get("until"), q.get("keys"), now)
    return json_reply(await _hive(request).stats(query, now))


async def receive_push(request: web.Request) -> web.Response:
    """hive.git's pre-receive hook reports a push (its objects still in git's quarantine)."""
    lines = await _hive(request).receive_push(await json_body(request), who(request))
    return json_reply({"accepted": True, "lines": lines})


def add_api_routes(app: web.Application) -> None:
    """Mount every /api/ route on `app`."""
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_get("/api/agent-page", agent_page)
    app.router.add_post("/api/agents", create_agent)
    app.router.add_get("/api/agents/{name}", get_agent)
    app.router.add_get("/api/agents/{name}/history", agent_history)
    app.router.add_post("/api/agents/{name}/submit", submit)
    app.router.add_post("/api/agents/{name}/rollback", rollback)
    app.router.add_post("/api/agents/{name}/resume", resume)
    app.router.add_get("/api/agents/{name}/model", get_model)
    app.router.add_post("/api/agents/{name}/model", set_model)
    app.router.add_post("/api/agents/{name}/stop", stop_agent)
    app.router.add_post("/api/agents/{name}/start", start_agent)
    app.router.add_get("/api/agents/{name}/inbox", agent_inbox)
    app.router.add_post("/api/messages", send_message)
    app.router.add_get("/api/stats", get_stats)
    app.router.add_get("/api/questions", list_questions)
    app.router.add_post("/api/questions/{id}/answer", answer_question)
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
    app.router.add_post("/api/push", receive_push)  # hive.git's hook: the socket, not the web
    # They import this module.
    from gitops_hive.web.agent_files_api import add_agent_file_routes
    from gitops_hive.web.events import add_event_routes
    from gitops_hive.web.terminal_api import add_terminal_routes

    add_agent_file_routes(app)
    add_terminal_routes(app)
    add_event_routes(app)
    return app
