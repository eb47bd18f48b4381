"""The control socket's routes for an agent's files: its log read from its end (`hivectl
logs`), the notify hooks written again into proposed/ (`hivectl hooks install`)."""

from __future__ import annotations

from aiohttp import web

from gitops_hive.agent_logs import MAX_LINES
from gitops_hive.errors import HiveError
from gitops_hive.numbers import whole_number
from gitops_hive.web.control_api import HIVE_KEY
from gitops_hive.web.jsonhttp import json_body, json_reply

DEFAULT_LINES = 50  # what the agent page's log tail shows


def _count(request: web.Request, key: str, default: int | None, advice: str) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return default
    found = whole_number(raw)
    if found is None:
        raise HiveError(f"{key} {raw[:40]!r} is not a whole number: {advice}")
    return found


async def agent_log(request: web.Request) -> web.Response:
    """?lines=N: the last N lines; ?since=OFFSET: the whole lines written after that byte."""
    lines = _count(request, "lines", DEFAULT_LINES, f"give 1 to {MAX_LINES}")
    since = _count(request, "since", None, "give the offset the last answer named")
    read = await request.app[HIVE_KEY].files.log(request.match_info["name"], lines or 0, since)
    return json_reply({"agent": request.match_info["name"], **read.to_json()})


async def install_hooks(request: web.Request) -> web.Response:
    """Body {"agents": [NAME, ...]} (empty or absent: every agent): per agent what was done."""
    agents = (await json_body(request)).get("agents") or []
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        raise HiveError('"agents" must be a list of agent names')
    return json_reply(await request.app[HIVE_KEY].files.install_hooks(agents))


def add_agent_file_routes(app: web.Application) -> None:
    """Mount the log and hooks routes (on the control socket: the operator's own tools)."""
    app.router.add_get("/api/agents/{name}/log", agent_log)
    app.router.add_post("/api/hooks/install", install_hooks)
