"""TurnEnd on the wire: the harness's tally of a turn, and the controller's check of it.

The harness counts what a turn did (tools called, messages by who sent or got them); the
controller, which must not trust an agent, validates the figures it receives and turns them
into stats rows.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_hive.errors import HiveError
from gitops_hive.telemetry.series import RECIPIENT_KINDS, TOOL_PREFIX

OPERATOR = "operator"
SYSTEM_SENDER = "hive"
MAX_TOOLS = 64  # distinct tool names one TurnEnd may report
MAX_TOOL_NAME = 100
MAX_COUNT = 1_000_000
LIMITS: dict[str, tuple[float, float]] = {
    "duration_s": (0.0, 7 * 86400.0),
    "exit_code": (-1024.0, 1024.0),
    "messages_in": (0.0, MAX_COUNT),
    "messages_out": (0.0, MAX_COUNT),
    "notes_bytes": (0.0, 2.0**50),
    "attempts": (1.0, 100.0),
}
INTEGER_FIELDS = frozenset({"exit_code", "messages_in", "messages_out", "notes_bytes", "attempts"})


def recipient_kind(name: str, manager: str) -> str:
    """peer, operator, manager or system: who is on the other end of a message."""
    if name == OPERATOR:
        return "operator"
    if name == SYSTEM_SENDER:
        return "system"
    return "manager" if name == manager else "peer"


def exit_class(exit_code: int, attempts: int) -> str:
    """ok, retried (ok only after the harness ran the turn again) or failure."""
    if exit_code != 0:
        return "failure"
    return "ok" if attempts <= 1 else "retried"


def tool_basename(tool: str) -> str:
    """A tool's own name, whatever prefix the CLI gives it (mcp__hive__send -> send)."""
    return tool.rsplit("__", 1)[-1]


@dataclass
class Tally:
    """What the agent CLI's stream-json output says it did in one turn."""

    manager: str
    tools: collections.Counter[str] = field(default_factory=collections.Counter)
    sent: collections.Counter[str] = field(default_factory=collections.Counter)

    def feed(self, line: str) -> None:
        """Count the tool_use blocks of one stream-json line; sends by their recipient's kind."""
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("type") != "assistant":
            return
        content = (event.get("message") or {}).get("content") or []
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                name = str(block.get("name", "?"))
                self.tools[name] += 1
                args = block.get("input")
                self._message(name, args if isinstance(args, dict) else {})

    def _message(self, tool: str, args: Mapping[str, Any]) -> None:
        base = tool_basename(tool)
        if base == "send":
            self.sent[recipient_kind(str(args.get("to", "")), self.manager)] += 1
        elif base == "ask_operator":
            self.sent["operator"] += 1


def received_kinds(senders: Iterable[str], manager: str) -> dict[str, int]:
    """How many of a turn's messages came from each kind of sender."""
    counts = collections.Counter(recipient_kind(s, manager) for s in senders)
    return {kind: counts[kind] for kind in RECIPIENT_KINDS if counts[kind]}


def _number(body: Mapping[str, Any], key: str) -> float:
    value = body.get(key, 1 if key == "attempts" else 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HiveError(f"{key} must be a number")
    low, high = LIMITS[key]
    if not math.isfinite(value) or not low <= value <= high:
        raise HiveError(f"{key} must be a number from {low:g} to {high:g}")
    if key in INTEGER_FIELDS and value != int(value):
        raise HiveError(f"{key} must be a whole number")
    return float(value)


def _counts(body: Mapping[str, Any], key: str, allowed: Iterable[str] | None) -> dict[str, int]:
    raw = body.get(key, {})
    if not isinstance(raw, dict):
        raise HiveError(f"{key} must map names to counts")
    if len(raw) > MAX_TOOLS:
        raise HiveError(f"{key} names {len(raw)} entries; at most {MAX_TOOLS} are recorded")
    known = set(allowed) if allowed is not None else None
    counts: dict[str, int] = {}
    for name, count in raw.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_TOOL_NAME:
            raise HiveError(f"{key}: names must be 1 to {MAX_TOOL_NAME} characters")
        if not name.isprintable():
            raise HiveError(f"{key}: {name!r} holds control characters")
        if known is not None and name not in known:
            raise HiveError(f"{key}: {name!r} is not one of {sorted(known)}")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
            raise HiveError(f"{key}: the count of {name!r} must be a whole number 0..{MAX_COUNT}")
        counts[name] = count
    return counts


def turn_values(body: Mapping[str, Any]) -> dict[str, float]:
    """A TurnEnd body (untrusted) as stats rows' key -> value; HiveError on any bad field.

    Unknown fields are left alone, so a newer harness can report more than this controller
    records.
    """
    values = {key: _number(body, key) for key in LIMITS}
    attempts = int(values.pop("attempts"))
    tools = _counts(body, "tool_calls", None)
    received = _counts(body, "received", RECIPIENT_KINDS)
    sent = _counts(body, "sent", RECIPIENT_KINDS)
    values["turns"] = 1.0
    values["tool_calls"] = float(sum(tools.values()))
    values.update({f"{TOOL_PREFIX}{name}": float(n) for name, n in tools.items()})
    klass = exit_class(int(values["exit_code"]), attempts)
    values[f"exit:{klass}"] = 1.0
    # Zeros are left out: a sum over a bucket reads a missing row as 0.
    for direction, counts in (("in", received), ("out", sent)):
        values.update({f"{direction}:{k}": float(n) for k, n in counts.items() if n})
    return values
