"""The turn loop each agent runs: recv, run the agent CLI on the messages, report TurnEnd.

`python -m gitops_hive.agent.harness`, started by the runtime with the agent's environment
(`protocol.AgentEnvironment`): its socket, its pinned tree and state folder, the model, the
allowed tools, the agent CLI and the compaction session as JSON lists, the turn and notes
limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path

from gitops_hive.agent.client import AgentClient, HiveCallError
from gitops_hive.agent.prompts import system_prompt
from gitops_hive.agent.turn import AgentSetup, missing_cli, take_turn
from gitops_hive.protocol import MAX_WAIT_SECONDS, AgentEnvironment, TurnEnd

log = logging.getLogger("gitops_hive.agent.harness")
RETRY_DELAY = 2.0
# After a turn whose messages went back unread, the next recv waits: 2 s, doubling to 5 min,
# so a CLI that fails every time never turns the same message over and over.
FAILED_TURN_BACKOFF = (2.0, 300.0)
FALLBACK_MODEL = "sonnet"  # only when started without HIVE_MODEL, outside a hive
HIVE_TOOLS = "mcp__hive"  # hive-mcp's tools, always allowed


def write_mcp_config(state: Path, socket_path: Path) -> Path:
    """The MCP config the agent CLI loads: hive-mcp on this agent's socket."""
    config = {
        "mcpServers": {
            "hive": {
                "command": sys.executable,
                "args": ["-m", "gitops_hive.agent.mcp", "--socket", str(socket_path)],
            }
        }
    }
    path = state / ".hive-mcp.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


async def setup_from_env(client: AgentClient, environment: AgentEnvironment) -> AgentSetup:
    """Everything a turn needs, from the environment, the socket and the agent's pinned tree."""
    me = await client.whoami()
    return AgentSetup(
        command=list(environment.agent_command),
        model=environment.model or FALLBACK_MODEL,
        system_prompt=system_prompt(str(me["role"]), environment.tree),
        allowed_tools=(*environment.allowed_tools, HIVE_TOOLS),
        mcp_config=write_mcp_config(environment.state, client.socket_path),
        state=environment.state,
        manager=str(me["manager"]),
        compact_command=environment.compact_command,
        notes_limit=environment.notes_limit,
    )


async def with_current_model(client: AgentClient, setup: AgentSetup) -> AgentSetup:
    """The setup with the model the controller names now (an override needs no restart)."""
    try:
        model = await client.model()
    except HiveCallError as exc:
        log.warning("cannot ask for the model (%s); keeping %s", exc.message, setup.model)
        return setup
    if model != setup.model:
        log.info("model switched: %s -> %s", setup.model, model)
    return dataclasses.replace(setup, model=model)


def next_backoff(end: TurnEnd, backoff: float) -> float:
    """The wait before the next recv: none after a turn that read its messages, else the
    last wait doubled (from the first, up to the cap)."""
    first, cap = FAILED_TURN_BACKOFF
    if not end.returned:
        return 0.0
    return min(cap, backoff * 2) if backoff else first


async def turn_loop(client: AgentClient, environment: AgentEnvironment) -> None:
    """recv(180) -> turn -> TurnEnd, until stopped."""
    setup = await setup_from_env(client, environment)
    log.info("harness ready: model %s, agent CLI %s", setup.model, setup.command[0])
    problem = missing_cli(setup)
    if problem is not None:
        log.error("%s; set harness.agent_command in hive.toml (see the README)", problem)
        with contextlib.suppress(HiveCallError):
            await client.failing(problem)
    backoff = 0.0
    while True:
        if backoff:
            await asyncio.sleep(backoff)
        try:
            delivery = await client.recv(MAX_WAIT_SECONDS)
        except HiveCallError as exc:
            log.warning("recv failed: %s; retrying in %.0fs", exc.message, RETRY_DELAY)
            await asyncio.sleep(RETRY_DELAY)
            continue
        messages = delivery["messages"]
        if not messages:
            continue
        setup = await with_current_model(client, setup)
        log.info(
            "turn: %d message(s) from %s, model %s",
            len(messages),
            sorted({m["from"] for m in messages}),
            setup.model,
        )
        end = await take_turn(setup, messages, environment.turn_timeout)
        log.info(
            "turn ended: exit %d in %.1fs, tools %s", end.exit_code, end.duration_s, end.tool_calls
        )
        backoff = next_backoff(end, backoff)
        if end.returned:
            log.warning(
                "%s before reading %d message(s): they go back to the inbox; next try in %.0fs",
                end.error,
                len(end.returned),
                backoff,
            )
        try:
            await client.turn_end(end)
        except HiveCallError as exc:
            log.warning("TurnEnd not recorded: %s", exc.message)


async def _main(environment: AgentEnvironment) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with AgentClient(environment.socket) as client:
        work = asyncio.create_task(turn_loop(client, environment))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if work.done():
            work.result()  # setup failed: let it say why
            return
        log.info("stopping")
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work


def main() -> None:
    """Entry point of `python -m gitops_hive.agent.harness`."""
    logging.basicConfig(level=logging.INFO, format="harness: %(message)s", stream=sys.stdout)
    try:
        environment = AgentEnvironment.from_environ(os.environ)
    except ValueError as exc:
        raise SystemExit(f"harness: {exc}") from None
    asyncio.run(_main(environment))


if __name__ == "__main__":
    main()
