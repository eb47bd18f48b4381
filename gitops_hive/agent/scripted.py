"""A scripted agent (a stand-in for the Claude CLI) that the demo and the tests run.

Run by the runtime directly, it reads its agent.toml from $HIVE_TREE, prints what it runs,
and writes a heartbeat to its state dir every second. `SCRIPTED_AGENT_EXIT=N` in
[container] env makes it exit with status N at once: the way to see a failed deploy;
`SCRIPTED_AGENT_EXIT_AFTER=S` makes it exit with status 4 after S seconds: a crash loop.

Run by the harness as the agent CLI (`--turn`, with `--model M` as the Claude CLI takes it),
it plays one turn the way the Claude CLI would: it reads the messages on stdin, answers
each operator message by sending the manager an acknowledgement through its hive socket,
notes the turn (and its model) in notes.md, and prints stream-json lines as the Claude CLI
does: its init, what it says, a tool_use block per tool it called and the tool's result.
`SCRIPTED_AGENT_FAIL_IF_NOTES_OVER=N` makes a turn fail while notes.md is over N bytes, the
way a context overflow would. With `--compact` it is the notes-compaction session: it keeps
the last lines of the notes it is given.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import tomllib
from pathlib import Path
from types import FrameType

from gitops_hive.protocol import MANAGER_ROLE, OPERATOR, AgentEnvironment


def _stop(signum: int, frame: FrameType | None) -> None:
    print(f"scripted agent: got signal {signum}, stopping", flush=True)
    sys.exit(0)


MESSAGE_HEADER = re.compile(r"^--- message #(\d+) from (\S+) \(kind: (\S+)\)$")


def _messages(text: str) -> list[tuple[int, str, str, str]]:
    """(id, sender, kind, first body line) of each message in the harness's turn prompt."""
    found: list[tuple[int, str, str, str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = MESSAGE_HEADER.match(line)
        if match:
            body = lines[i + 1] if i + 1 < len(lines) else ""
            found.append((int(match[1]), match[2], match[3], body))
    return found


def _event(kind: str, *blocks: dict[str, object]) -> None:
    print(json.dumps({"type": kind, "message": {"content": list(blocks)}}), flush=True)


def _tool_use(name: str, arguments: dict[str, object], result: str) -> None:
    _event("assistant", {"type": "tool_use", "name": name, "input": arguments})
    _event("user", {"type": "tool_result", "content": result})


async def _turn() -> int:
    """Handle the turn's messages through the hive socket; return how many there were."""
    from gitops_hive.agent.client import AgentClient, socket_from_env

    messages = _messages(sys.stdin.read())
    async with AgentClient(socket_from_env()) as client:
        me = await client.whoami()
        _tool_use("mcp__hive__whoami", {}, json.dumps(me))
        for number, sender, kind, body in messages:
            if sender == OPERATOR and kind == "message" and me["role"] != MANAGER_ROLE:
                reply = f"{me['name']} got #{number}: {body}"
                _event(
                    "assistant",
                    {"type": "text", "text": f"Telling {me['manager']} I got #{number}."},
                )
                sent = await client.send(me["manager"], reply)
                _tool_use("mcp__hive__send", {"to": me["manager"], "body": reply}, json.dumps(sent))
    return len(messages)


def _argument(flag: str) -> str | None:
    args = sys.argv[1:]
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def _compact() -> int:
    """The compaction session: keep the last lines of the notes under the prompt's limit."""
    text = sys.stdin.read()
    notes = text.split("--- notes.md ---\n", 1)[-1].splitlines()
    print("# notes, compacted by the scripted agent")
    print("\n".join(line[:80] for line in notes[-3:]))
    return 0


def _one_turn() -> int:
    limit = os.environ.get("SCRIPTED_AGENT_FAIL_IF_NOTES_OVER")
    notes_path = Path("notes.md")
    if limit and notes_path.exists() and notes_path.stat().st_size > int(limit):
        # What a real CLI does when the notes no longer fit its context.
        print(f"scripted agent: notes.md over {limit} bytes, failing the turn", flush=True)
        return 3
    started = time.monotonic()
    model = _argument("--model") or "?"
    print(json.dumps({"type": "system", "subtype": "init", "model": model}), flush=True)
    handled = asyncio.run(_turn())
    with Path("notes.md").open("a", encoding="utf-8") as notes:
        notes.write(f"- turn at {time.time():.0f} with model {model}: {handled} message(s)\n")
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 1 + handled,
        "duration_ms": round((time.monotonic() - started) * 1000),
        "total_cost_usd": 0.0,  # a scripted turn costs nothing
        "result": f"handled {handled} message(s)",
    }
    print(json.dumps(result), flush=True)
    return 0


def main() -> int:
    """Run until stopped, heartbeating into $HIVE_STATE/heartbeat (or one turn: --turn)."""
    if "--turn" in sys.argv[1:]:
        return _one_turn()
    if "--compact" in sys.argv[1:]:
        return _compact()
    signal.signal(signal.SIGTERM, _stop)
    environment = AgentEnvironment.from_environ(os.environ)
    name = environment.agent or "?"
    commit = environment.commit or "?"
    spec = tomllib.loads((environment.tree / "agent.toml").read_text(encoding="utf-8"))
    print(f"scripted agent {name} at {commit}: {spec.get('description', '')}", flush=True)
    print(f"model {environment.model or '?'}", flush=True)
    exit_code = os.environ.get("SCRIPTED_AGENT_EXIT")
    if exit_code is not None:
        print(f"scripted agent: SCRIPTED_AGENT_EXIT={exit_code}, exiting", flush=True)
        return int(exit_code)
    state = environment.state
    exit_after = os.environ.get("SCRIPTED_AGENT_EXIT_AFTER")
    deadline = time.monotonic() + float(exit_after) if exit_after else None
    beat = 0
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            print(f"scripted agent: SCRIPTED_AGENT_EXIT_AFTER={exit_after}, exiting 4", flush=True)
            return 4
        beat += 1
        (state / "heartbeat.tmp").write_text(f"{commit} {beat} {time.time()}\n")
        (state / "heartbeat.tmp").replace(state / "heartbeat")
        time.sleep(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))


if __name__ == "__main__":
    raise SystemExit(main())
