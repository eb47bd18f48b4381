"""One turn: the agent CLI run on the messages that started it, its output tallied into a
TurnEnd, the notes compacted before it or after it failed."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_hive.agent.compaction import NOTES_FILE, compact, notes_size
from gitops_hive.agent.reaping import end_process
from gitops_hive.agent.tally import Tally, received_kinds
from gitops_hive.protocol import TurnEnd

log = logging.getLogger("gitops_hive.agent.harness")


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


def turn_prompt(messages: Iterable[dict[str, Any]]) -> str:
    """The messages that started this turn, as the agent CLI's input."""
    parts = ["Messages in your inbox:"]
    for m in messages:
        data = f"\ndata: {json.dumps(m['data'], sort_keys=True)}" if m.get("data") else ""
        parts.append(
            f"--- message #{m['id']} from {m['from']} (kind: {m['kind']})\n{m['body']}{data}"
        )
    return "\n\n".join(parts) + "\n"


MAX_NAME = 100  # of the agent CLI's name, as a failed turn's error quotes it


def cli_error(program: str, exc: OSError) -> str:
    """Why the agent CLI could not be started, in a line: not found, or the OS's reason."""
    name = program[:MAX_NAME]
    if isinstance(exc, FileNotFoundError):
        return f"agent CLI {name!r} not found"
    return f"agent CLI {name!r} cannot run: {exc.strerror or exc}"


def missing_cli(setup: AgentSetup) -> str | None:
    """Why the agent CLI cannot be found on this PATH, or None when it can."""
    program = agent_argv(setup)[0] if setup.command else ""
    if program and shutil.which(program) is not None:
        return None
    return cli_error(program, FileNotFoundError())


ALLOWED_TOOLS = "{allowed_tools}"  # a whole argument of the command: one per entry


def agent_argv(setup: AgentSetup) -> list[str]:
    """The agent CLI's argv: placeholders in hive.toml's harness.agent_command filled in."""
    values = {
        "{model}": setup.model,
        "{system_prompt}": setup.system_prompt,
        "{mcp_config}": str(setup.mcp_config),
        "{python}": sys.executable,
    }
    argv: list[str] = []
    for part in setup.command:
        if part == ALLOWED_TOOLS:
            # Each entry its own argument: joined, "Bash(curl *),Write" would grant Write.
            argv.extend(setup.allowed_tools)
            continue
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
        error = cli_error(argv[0], exc)
        log.error("%s; set harness.agent_command in hive.toml (see the README)", error)
        return TurnEnd(
            time.monotonic() - started,
            127,
            messages_in=len(messages),
            model=setup.model,
            received=received,
            error=error,
            returned=tuple(int(m["id"]) for m in messages),
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

    timed_out = False
    try:
        async with asyncio.timeout(turn_limit):
            await asyncio.gather(pump(), process.wait())
    except TimeoutError:
        log.warning("turn ran over %.0fs; killing the agent CLI", turn_limit)
        timed_out = True
        await end_process(process)
    except asyncio.CancelledError:  # the harness stops: the CLI must not outlive the turn
        await end_process(process)
        raise
    notes = setup.state / NOTES_FILE
    exit_code = process.returncode if process.returncode is not None else -1
    error = ""
    if timed_out:
        error = f"agent CLI {argv[0][:MAX_NAME]!r} ran over the turn limit of {turn_limit:.0f}s"
    elif exit_code:
        error = f"agent CLI {argv[0][:MAX_NAME]!r} exited with status {exit_code}"
    # A CLI that failed before the model answered never read the messages: hand them back.
    unread = exit_code != 0 and not tally.answered
    return TurnEnd(
        duration_s=time.monotonic() - started,
        exit_code=exit_code,
        tool_calls=dict(tally.tools),
        messages_in=len(messages),
        messages_out=sum(tally.sent.values()),
        notes_bytes=notes.stat().st_size if notes.exists() else 0,
        model=setup.model,
        received=received,
        sent=dict(tally.sent),
        error=error,
        returned=tuple(int(m["id"]) for m in messages) if unread else (),
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
