"""The turn loop each agent runs: recv, run the agent CLI on the messages, report TurnEnd.

`python -m gitops_hive.agent.harness`, started by the runtime with the agent's environment:
HIVE_SOCKET, HIVE_TREE (its pinned commit, materialised), HIVE_STATE, HIVE_MODEL and
HIVE_AGENT_COMMAND (the agent CLI as a JSON list, from hive.toml `harness.agent_command`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_hive.agent.client import AgentClient, HiveCallError, socket_from_env
from gitops_hive.agent.compaction import NOTES_FILE, compact, notes_size
from gitops_hive.messaging.broker import MAX_WAIT_SECONDS
from gitops_hive.resources import prompts_dir
from gitops_hive.spec import validate_spec
from gitops_hive.telemetry.turns import Tally, received_kinds

log = logging.getLogger("gitops_hive.agent.harness")
RETRY_DELAY = 2.0


@dataclass
class TurnEnd:
    """What one turn did: the figures the telemetry charts."""

    duration_s: float
    exit_code: int
    tool_calls: dict[str, int] = field(default_factory=dict)
    messages_in: int = 0
    messages_out: int = 0
    notes_bytes: int = 0
    model: str = ""
    received: dict[str, int] = field(default_factory=dict)  # by sender kind (turns.py)
    sent: dict[str, int] = field(default_factory=dict)  # by recipient kind
    attempts: int = 1  # runs of the agent CLI this turn took

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "tool_calls": self.tool_calls,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "notes_bytes": self.notes_bytes,
            "received": self.received,
            "sent": self.sent,
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class AgentSetup:
    """What the harness hands the agent CLI each turn."""

    command: list[str]
    model: str
    system_prompt: str
    allowed_tools: tuple[str, ...]
    mcp_config: Path
    state: Path
    manager: str = "manager"
    compact_command: tuple[str, ...] = ()
    notes_limit: int = 0  # bytes; 0: never compact


def system_prompt(role: str, tree: Path) -> str:
    """prompts/manager.md or prompts/agent.md, then the agent's own prompt.md."""
    shared = (prompts_dir() / ("manager.md" if role == "manager" else "agent.md")).read_text()
    own_file = tree / "prompt.md"
    own = own_file.read_text(encoding="utf-8", errors="replace") if own_file.is_file() else ""
    return f"{shared.rstrip()}\n\n# Your own instructions\n\n{own.strip()}\n"


def turn_prompt(messages: Iterable[dict[str, Any]]) -> str:
    """The messages that started this turn, as the agent CLI's input."""
    parts = ["Messages in your inbox:"]
    for m in messages:
        data = f"\ndata: {json.dumps(m['data'], sort_keys=True)}" if m.get("data") else ""
        parts.append(
            f"--- message #{m['id']} from {m['from']} (kind: {m['kind']})\n{m['body']}{data}"
        )
    return "\n\n".join(parts) + "\n"


def agent_argv(setup: AgentSetup) -> list[str]:
    """The agent CLI's argv: placeholders in hive.toml's harness.agent_command filled in."""
    values = {
        "{model}": setup.model,
        "{system_prompt}": setup.system_prompt,
        "{mcp_config}": str(setup.mcp_config),
        "{allowed_tools}": ",".join(setup.allowed_tools),
        "{python}": sys.executable,
    }
    argv = []
    for part in setup.command:
        for key, value in values.items():
            part = part.replace(key, value)
        argv.append(part)
    return argv


async def run_turn(setup: AgentSetup, messages: list[dict[str, Any]], turn_limit: float) -> TurnEnd:
    """Run the agent CLI once on `messages`; its output goes to our stdout (the agent log)."""
    started = time.monotonic()
    tally = Tally(setup.manager)
    received = received_kinds((str(m["from"]) for m in messages), setup.manager)
    argv = agent_argv(setup)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=setup.state,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
    except OSError as exc:
        log.error(
            "cannot run the agent CLI %r: %s; set harness.agent_command in hive.toml",
            argv[0],
            exc.strerror,
        )
        return TurnEnd(
            time.monotonic() - started, 127, messages_in=len(messages), received=received
        )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(turn_prompt(messages).encode())
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await process.stdin.drain()
    process.stdin.close()

    async def pump() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            tally.feed(line)
            sys.stdout.write(line)
            sys.stdout.flush()

    try:
        await asyncio.wait_for(asyncio.gather(pump(), process.wait()), turn_limit)
    except TimeoutError:
        log.warning("turn ran over %.0fs; killing the agent CLI", turn_limit)
        process.kill()
        await process.wait()
    notes = setup.state / NOTES_FILE
    return TurnEnd(
        duration_s=time.monotonic() - started,
        exit_code=process.returncode if process.returncode is not None else -1,
        tool_calls=dict(tally.tools),
        messages_in=len(messages),
        messages_out=sum(tally.sent.values()),
        notes_bytes=notes.stat().st_size if notes.exists() else 0,
        model=setup.model,
        received=received,
        sent=dict(tally.sent),
    )


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


async def setup_from_env(client: AgentClient) -> AgentSetup:
    """Everything a turn needs, from the environment and the agent's pinned tree."""
    tree = Path(os.environ.get("HIVE_TREE", "."))
    state = Path(os.environ.get("HIVE_STATE", "."))
    me = await client.whoami()
    spec, problems = validate_spec((tree / "agent.toml").read_text(encoding="utf-8"))
    if spec is None:
        raise SystemExit(f"harness: agent.toml is not valid: {problems[0]}")
    command = json.loads(os.environ.get("HIVE_AGENT_COMMAND", '["claude"]'))
    return AgentSetup(
        command=[str(part) for part in command],
        model=os.environ.get("HIVE_MODEL") or spec.model or "sonnet",
        system_prompt=system_prompt(str(me["role"]), tree),
        allowed_tools=(*spec.tools_allow, "mcp__hive"),
        mcp_config=write_mcp_config(state, client.socket_path),
        state=state,
        manager=str(me["manager"]),
        compact_command=tuple(
            str(p) for p in json.loads(os.environ.get("HIVE_COMPACT_COMMAND", "[]"))
        ),
        notes_limit=int(os.environ.get("HIVE_NOTES_LIMIT", "0")),
    )


def _merged(first: TurnEnd, again: TurnEnd) -> TurnEnd:
    """A turn run twice (after compaction) as one TurnEnd: the second's outcome, both costs."""
    tools = collections.Counter(first.tool_calls) + collections.Counter(again.tool_calls)
    sent = collections.Counter(first.sent) + collections.Counter(again.sent)
    return dataclasses.replace(
        again,
        duration_s=first.duration_s + again.duration_s,
        tool_calls=dict(tools),
        messages_out=first.messages_out + again.messages_out,
        sent=dict(sent),
        attempts=first.attempts + again.attempts,
    )


async def take_turn(
    setup: AgentSetup, messages: list[dict[str, Any]], turn_limit: float
) -> TurnEnd:
    """One turn. Notes over harness.notes_limit are compacted first; a turn that fails while
    the notes are over half the limit is compacted and run once more (counted as retried)."""
    limit = setup.notes_limit
    compactor = agent_argv(dataclasses.replace(setup, command=list(setup.compact_command)))
    if limit and setup.compact_command and notes_size(setup.state) > limit:
        await compact(setup.state, compactor, limit)
    end = await run_turn(setup, messages, turn_limit)
    if end.exit_code == 0 or not limit or not setup.compact_command:
        return end
    if notes_size(setup.state) <= limit // 2:
        return end
    log.warning(
        "the turn failed with notes.md at %d bytes; compacting, then once more", end.notes_bytes
    )
    if not (await compact(setup.state, compactor, limit)).compacted:
        return end
    return _merged(end, await run_turn(setup, messages, turn_limit))


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


async def turn_loop(client: AgentClient, turn_limit: float) -> None:
    """recv(180) -> turn -> TurnEnd, until stopped."""
    setup = await setup_from_env(client)
    log.info("harness ready: model %s, agent CLI %s", setup.model, setup.command[0])
    while True:
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
        end = await take_turn(setup, messages, turn_limit)
        log.info(
            "turn ended: exit %d in %.1fs, tools %s", end.exit_code, end.duration_s, end.tool_calls
        )
        try:
            await client.turn_end(end.to_json())
        except HiveCallError as exc:
            log.warning("TurnEnd not recorded: %s", exc.message)


async def _main() -> None:
    turn_limit = float(os.environ.get("HIVE_TURN_TIMEOUT", "1800"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with AgentClient(socket_from_env()) as client:
        work = asyncio.create_task(turn_loop(client, turn_limit))
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
    asyncio.run(_main())


if __name__ == "__main__":
    main()
