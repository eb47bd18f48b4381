"""The controller's check of a TurnEnd: the harness counts what a turn did (agent/tally.py),
and the controller, which must not trust an agent, validates the figures it receives and
turns them into stats rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_hive.errors import HiveError
from gitops_hive.protocol import RECIPIENT_KINDS
from gitops_hive.telemetry.series import TOOL_PREFIX

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


def exit_class(exit_code: int, attempts: int) -> str:
    """ok, retried (ok only after the harness ran the turn again) or failure."""
    if exit_code != 0:
        return "failure"
    return "ok" if attempts <= 1 else "retried"


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
