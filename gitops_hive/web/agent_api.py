"""The API on each agent's own socket: the socket a call arrives on is the caller's identity."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from gitops_hive.agent_calls import AgentCalls
from gitops_hive.approvals.manager_requests import submitted
from gitops_hive.protocol import Route
from gitops_hive.web.jsonhttp import Handler, errors_middleware, json_body, json_reply, peer_uid
from gitops_hive.web.log_throttle import THROTTLE

log = logging.getLogger(__name__)
CALLS_KEY = web.AppKey("calls", AgentCalls)
AGENT_UID_KEY = web.AppKey("agent_uid", int)


@web.middleware
async def peer_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Where the kernel names the caller's uid, only the agent's own uid gets in."""
    uid = peer_uid(request)
    expected = request.app[AGENT_UID_KEY]
    if uid is not None and uid != expected:
        name = request.app[CALLS_KEY].name
        return json_reply(
            {"error": f"uid {uid} may not use {name}'s socket", "code": "forbidden"}, status=403
        )
    return await handler(request)


def _calls(request: web.Request) -> AgentCalls:
    return request.app[CALLS_KEY]


async def whoami(request: web.Request) -> web.Response:
    return json_reply(await _calls(request).whoami())


async def current_model(request: web.Request) -> web.Response:
    """The model the caller's next turn runs with (asked before every turn: no restart)."""
    return json_reply({"model": await _calls(request).model()})


async def send(request: web.Request) -> web.Response:
    body = await json_body(request)
    message = await _calls(request).send(body.get("to"), body.get("body"))
    return json_reply({"id": message.id, "to": message.recipient, "queued": True}, status=201)


async def recv(request: web.Request) -> web.StreamResponse:
    """Park until a message lands; the messages count as read once the reply is written."""
    calls = _calls(request)
    body = await json_body(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        async with calls.receive(body.get("wait_seconds", 0)) as delivery:
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the caller went away while parked")
            payload = json.dumps(delivery.to_json()).encode()
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload)
            await response.write_eof()
    except ConnectionResetError:
        THROTTLE.log(
            ("recv gone", calls.name),
            logging.INFO,
            "agent %s: recv caller went away; its messages stay unread",
            calls.name,
        )
    return response


async def turn_end(request: web.Request) -> web.Response:
    """The harness's TurnEnd: figures of one turn, validated, queued as stats rows."""
    recorded = await _calls(request).turn_end(await json_body(request))
    return json_reply({"recorded": recorded}, status=201)


async def report_failing(request: web.Request) -> web.Response:
    """The harness cannot take a turn (no agent CLI): the agent shows failing until one works."""
    await _calls(request).failing(await json_body(request))
    return json_reply({"recorded": True}, status=201)


def _manager(request: web.Request, tool: str) -> AgentCalls:
    calls = _calls(request)
    calls.require_manager(tool)
    return calls


async def request_apply_commit(request: web.Request) -> web.Response:
    calls = _manager(request, "request_apply_commit")
    body = await json_body(request)
    approval = await calls.apply_commit(body.get("agent"), body.get("sha"))
    return json_reply(submitted(approval, body.get("sha")), status=201)


async def request_spawn(request: web.Request) -> web.Response:
    calls = _manager(request, "request_spawn")
    body = await json_body(request)
    approval = await calls.spawn(str(body.get("name", "")))
    return json_reply(submitted(approval), status=201)


async def request_spawn_draft(request: web.Request) -> web.Response:
    calls = _manager(request, "request_spawn_draft")
    body = await json_body(request)
    return json_reply(await calls.spawn_draft(str(body.get("name", ""))), status=201)


async def request_spawn_commit(request: web.Request) -> web.Response:
    calls = _manager(request, "request_spawn_commit")
    body = await json_body(request)
    approval = await calls.spawn_commit(body.get("name"), body.get("sha"))
    return json_reply(submitted(approval, body.get("sha")), status=201)


async def ask_operator(request: web.Request) -> web.Response:
    calls = _manager(request, "ask_operator")
    body = await json_body(request)
    question = await calls.ask_operator(body.get("question"), body.get("options"))
    return json_reply(
        {
            **question.to_json(),
            "next": "the answer arrives in your inbox as a message of kind 'answer'",
        },
        status=201,
    )


async def push(request: web.Request) -> web.Response:
    """The manager's /hive.git pre-receive hook reports a push; only the manager's socket."""
    calls = _manager(request, "push")
    return json_reply({"accepted": True, "lines": await calls.push(await json_body(request))})


async def list_agents(request: web.Request) -> web.Response:
    return json_reply(await _manager(request, "list_agents").agents())


async def list_pending(request: web.Request) -> web.Response:
    return json_reply(await _manager(request, "list_pending").pending())


def request_bytes(message_bytes: int) -> int:
    """The largest request body an agent may send: a message of `message_bytes` with every
    byte escaped in JSON (six bytes each, at worst), and room for the rest of the call."""
    return 6 * message_bytes + 65536


def make_agent_app(
    calls: AgentCalls, uid: int, max_request_bytes: int = request_bytes(65536)
) -> web.Application:
    """The app behind agents/NAME/run/hive/hive.sock, bound to that one agent."""
    app = web.Application(
        middlewares=[peer_check, errors_middleware], client_max_size=max_request_bytes
    )
    app[CALLS_KEY] = calls
    app[AGENT_UID_KEY] = uid
    app.router.add_get(Route.WHOAMI, whoami)
    app.router.add_get(Route.MODEL, current_model)
    app.router.add_post(Route.SEND, send)
    app.router.add_post(Route.RECV, recv)
    app.router.add_post(Route.TURNS, turn_end)
    app.router.add_post(Route.FAILING, report_failing)
    app.router.add_post(Route.REQUEST_APPLY_COMMIT, request_apply_commit)
    app.router.add_post(Route.REQUEST_SPAWN, request_spawn)
    app.router.add_post(Route.REQUEST_SPAWN_DRAFT, request_spawn_draft)
    app.router.add_post(Route.REQUEST_SPAWN_COMMIT, request_spawn_commit)
    app.router.add_post(Route.ASK_OPERATOR, ask_operator)
    app.router.add_post(Route.PUSH, push)
    app.router.add_get(Route.LIST_AGENTS, list_agents)
    app.router.add_get(Route.LIST_PENDING, list_pending)
    return app
