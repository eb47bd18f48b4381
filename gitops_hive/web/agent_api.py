"""The API on each agent's own socket: the socket a call arrives on is the caller's identity."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from gitops_hive.approvals import manager_requests
from gitops_hive.deploy.build import MANAGER_AGENTS_DIR
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.messaging import questions
from gitops_hive.messaging import rules as messaging
from gitops_hive.messaging.broker import MAX_WAIT_SECONDS
from gitops_hive.overrides import models
from gitops_hive.store import queries
from gitops_hive.telemetry.turns import turn_values
from gitops_hive.web.jsonhttp import Handler, errors_middleware, json_body, json_reply, peer_uid

log = logging.getLogger(__name__)
AGENT_HIVE_KEY = web.AppKey("hive", Hive)
AGENT_NAME_KEY = web.AppKey("agent", str)
AGENT_UID_KEY = web.AppKey("agent_uid", int)
MAX_MODEL_NAME = 100


@web.middleware
async def peer_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Where the kernel names the caller's uid, only the agent's own uid gets in."""
    uid = peer_uid(request)
    expected = request.app[AGENT_UID_KEY]
    if uid is not None and uid != expected:
        name = request.app[AGENT_NAME_KEY]
        return json_reply(
            {"error": f"uid {uid} may not use {name}'s socket", "code": "forbidden"}, status=403
        )
    return await handler(request)


def _me(request: web.Request) -> tuple[Hive, str]:
    return request.app[AGENT_HIVE_KEY], request.app[AGENT_NAME_KEY]


async def whoami(request: web.Request) -> web.Response:
    hive, me = _me(request)
    manager = hive.ctx.config.manager
    return json_reply(
        {
            "name": me,
            "role": "manager" if me == manager else "agent",
            "manager": manager,
            "recipients": "*"
            if me == manager
            else list(await messaging.allowed_recipients(hive.ctx, me)),
            "max_wait_seconds": MAX_WAIT_SECONDS,
        }
    )


async def current_model(request: web.Request) -> web.Response:
    """The model the caller's next turn runs with (asked before every turn: no restart)."""
    hive, me = _me(request)
    return json_reply({"model": await models.current_model(hive.ctx, me)})


async def send(request: web.Request) -> web.Response:
    hive, me = _me(request)
    body = await json_body(request)
    to = messaging.require_text(body.get("to"), "to")
    text = messaging.require_text(body.get("body"), "body")
    message = await messaging.send_as_agent(hive.ctx, me, to, text)
    return json_reply({"id": message.id, "to": message.recipient, "queued": True}, status=201)


async def recv(request: web.Request) -> web.StreamResponse:
    """Park until a message lands; the messages count as read once the reply is written."""
    hive, me = _me(request)
    body = await json_body(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        async with hive.ctx.broker.receive(me, body.get("wait_seconds", 0)) as delivery:
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the caller went away while parked")
            payload = json.dumps(delivery.to_json()).encode()
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload)
            await response.write_eof()
    except ConnectionResetError:
        log.info("agent %s: recv caller went away; its messages stay unread", me)
    return response


async def turn_end(request: web.Request) -> web.Response:
    """The harness's TurnEnd: figures of one turn, validated, queued as stats rows."""
    hive, me = _me(request)
    body = await json_body(request)
    values = turn_values(body)
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_NAME):
        raise HiveError(f"model must be a model name of at most {MAX_MODEL_NAME} characters")
    now = time.time()
    hive.ctx.stats.add(me, now, values)
    if model is not None:
        async with hive.ctx.db.write() as conn:
            await queries.record_turn_model(conn, me, model, now)
        hive.ctx.bus.publish("model", agent=me, model=model)
    return json_reply({"recorded": len(values)}, status=201)


def _manager(request: web.Request, tool: str) -> tuple[Hive, str]:
    hive, me = _me(request)
    manager_requests.require_manager(hive.ctx, me, tool)
    return hive, me


async def request_apply_commit(request: web.Request) -> web.Response:
    hive, me = _manager(request, "request_apply_commit")
    body = await json_body(request)
    approval = await manager_requests.apply_commit(hive.ctx, me, body.get("agent"), body.get("sha"))
    return json_reply(manager_requests.submitted(approval), status=201)


async def request_spawn(request: web.Request) -> web.Response:
    hive, me = _manager(request, "request_spawn")
    body = await json_body(request)
    approval = await hive.spawn(str(body.get("name", "")), source=f"manager {me}")
    return json_reply(manager_requests.submitted(approval), status=201)


async def request_spawn_draft(request: web.Request) -> web.Response:
    hive, me = _manager(request, "request_spawn_draft")
    body = await json_body(request)
    agent = await hive.draft(str(body.get("name", "")))
    name = agent["name"]
    if hive.ctx.runtime.private_users:
        repo = f"{MANAGER_AGENTS_DIR}/{name}/config"
        nxt = (
            f"{repo} appears in your container when it next starts (ask the operator for "
            f"`hivectl start {me}`); then commit there and call request_spawn_commit(name, sha)"
        )
    else:
        repo = str(hive.ctx.layout.agent(name).proposed)
        nxt = "commit to the repo, then call request_spawn_commit(name, sha)"
    return json_reply({**agent, "repo": repo, "next": nxt}, status=201)


async def request_spawn_commit(request: web.Request) -> web.Response:
    hive, me = _manager(request, "request_spawn_commit")
    body = await json_body(request)
    approval = await manager_requests.spawn_commit(hive.ctx, me, body.get("name"), body.get("sha"))
    return json_reply(manager_requests.submitted(approval), status=201)


async def ask_operator(request: web.Request) -> web.Response:
    hive, me = _manager(request, "ask_operator")
    body = await json_body(request)
    question = await questions.ask(hive.ctx, me, body.get("question"), body.get("options"))
    return json_reply(
        {
            **question.to_json(),
            "next": "the answer arrives in your inbox as a message of kind 'answer'",
        },
        status=201,
    )


async def list_agents(request: web.Request) -> web.Response:
    hive, _ = _manager(request, "list_agents")
    return json_reply(await manager_requests.agents_summary(hive.ctx))


async def list_pending(request: web.Request) -> web.Response:
    hive, _ = _manager(request, "list_pending")
    return json_reply(await hive.pending())


def make_agent_app(hive: Hive, agent: str, uid: int) -> web.Application:
    """The app behind agents/NAME/run/hive.sock, bound to that one agent."""
    app = web.Application(middlewares=[peer_check, errors_middleware])
    app[AGENT_HIVE_KEY] = hive
    app[AGENT_NAME_KEY] = agent
    app[AGENT_UID_KEY] = uid
    app.router.add_get("/v1/whoami", whoami)
    app.router.add_get("/v1/model", current_model)
    app.router.add_post("/v1/send", send)
    app.router.add_post("/v1/recv", recv)
    app.router.add_post("/v1/turns", turn_end)
    app.router.add_post("/v1/manager/request_apply_commit", request_apply_commit)
    app.router.add_post("/v1/manager/request_spawn", request_spawn)
    app.router.add_post("/v1/manager/request_spawn_draft", request_spawn_draft)
    app.router.add_post("/v1/manager/request_spawn_commit", request_spawn_commit)
    app.router.add_post("/v1/manager/ask_operator", ask_operator)
    app.router.add_get("/v1/manager/list_agents", list_agents)
    app.router.add_get("/v1/manager/list_pending", list_pending)
    return app
