"""The operator's buttons beyond a review: spawn, submit a draft, stop and start, send a
message, resume auto-submit. Each is a form post (CSRF checked by web/security.py) over the
Hive facade, answered with a redirect to the page that shows what it did."""

from __future__ import annotations

from aiohttp import web

from gitops_hive.messaging.rules import require_text
from gitops_hive.web.control_api import HIVE_KEY
from gitops_hive.web.pages import WEB_OPERATOR

WEB_SOURCE = "web"  # an approval's `source` when the operator submitted it from a page


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v) for k, v in data.items()}


def _agent_url(name: str, anchor: str = "") -> str:
    return f"/agents/{name}{anchor}"


async def spawn_form(request: web.Request) -> web.Response:
    """The one-shot spawn: a draft from the template, queued for approval at once."""
    name = (await _form(request)).get("name", "").strip()
    approval = await request.app[HIVE_KEY].spawn(name, source=WEB_SOURCE)
    raise web.HTTPSeeOther(f"/approvals/{approval.id}")


async def submit_form(request: web.Request) -> web.Response:
    """Queue a draft's (or any agent's) proposed/ main for approval."""
    name = request.match_info["name"]
    approval = await request.app[HIVE_KEY].submit(name, None, source=WEB_SOURCE)
    raise web.HTTPSeeOther(f"/approvals/{approval.id}")


async def stop_form(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await request.app[HIVE_KEY].stop(name, WEB_OPERATOR)
    raise web.HTTPSeeOther(_agent_url(name))


async def start_form(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await request.app[HIVE_KEY].start_agent(name, WEB_OPERATOR)
    raise web.HTTPSeeOther(_agent_url(name))


async def send_form(request: web.Request) -> web.Response:
    """A message to the agent from `operator`, as `hivectl send` sends it."""
    name = request.match_info["name"]
    body = require_text((await _form(request)).get("body"), "the message")
    message = await request.app[HIVE_KEY].send(name, body)
    raise web.HTTPSeeOther(_agent_url(name, f"?sent={message.id}#inbox"))


async def resume_form(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await request.app[HIVE_KEY].resume(name)
    raise web.HTTPSeeOther(_agent_url(name))


def add_action_routes(app: web.Application) -> None:
    """Mount the operator's action posts."""
    app.router.add_post("/agents", spawn_form)
    app.router.add_post("/agents/{name}/submit", submit_form)
    app.router.add_post("/agents/{name}/stop", stop_form)
    app.router.add_post("/agents/{name}/start", start_form)
    app.router.add_post("/agents/{name}/send", send_form)
    app.router.add_post("/agents/{name}/resume", resume_form)
