"""Telemetry series, pure: stored keys, windows and buckets, percentiles, the charted series."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gitops_hive.protocol import RECIPIENT_KINDS
from gitops_hive.records import Bucket, Quantiles

HIVE_SERIES = "_hive"  # the `agent` of hive-wide rows; no agent name can start with "_"
EXIT_CLASSES = ("ok", "retried", "failure")
TOOL_PREFIX = "tool:"
TURN_KEYS = (
    "turns",
    "duration_s",
    "exit_code",
    *(f"exit:{c}" for c in EXIT_CLASSES),
    "tool_calls",
    "messages_in",
    "messages_out",
    *(f"in:{k}" for k in RECIPIENT_KINDS),
    *(f"out:{k}" for k in RECIPIENT_KINDS),
    "notes_bytes",
)
SAMPLED_KEYS = ("inbox_depth",)
HIVE_KEYS = ("approval_queue",)
PERCENTILE_KEYS = ("duration_s",)
CHART_TOOLS = 8  # the tool chart shows this many tools, the busiest
NICE_WIDTHS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 240


def is_known_key(key: str) -> bool:
    """A key the store can hold: a turn figure, a sample, a hive-wide series or tool:NAME."""
    if key.startswith(TOOL_PREFIX):
        return len(key) > len(TOOL_PREFIX)
    return key in TURN_KEYS or key in SAMPLED_KEYS or key in HIVE_KEYS


@dataclass(frozen=True)
class Window:
    """[since, until) on buckets of `width` seconds, aligned to multiples of `width`.

    Aligned buckets hold whole rollups (their widths divide the nice widths), so a window
    answers the same before and after its raw rows are rolled up.
    """

    since: float
    until: float
    width: float

    @property
    def origin(self) -> float:
        return math.floor(self.since / self.width) * self.width

    @property
    def size(self) -> int:
        return max(1, math.ceil((self.until - self.origin) / self.width))

    def index(self, ts: float) -> int:
        return int((ts - self.origin) // self.width)

    def starts(self) -> list[float]:
        return [self.origin + i * self.width for i in range(self.size)]


def choose_width(span: float, max_points: int = MAX_POINTS) -> float:
    """The narrowest nice bucket width that cuts `span` seconds into at most max_points."""
    for width in NICE_WIDTHS:
        if span / width <= max_points:
            return float(width)
    return float(math.ceil(span / max_points / 86400) * 86400)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lower = math.floor(rank)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (rank - lower)


def quantiles(values: Sequence[float]) -> Quantiles:
    """p50 and p95 of raw values."""
    return Quantiles(len(values), percentile(values, 50), percentile(values, 95))


def combine_quantiles(parts: Iterable[Quantiles]) -> Quantiles | None:
    """One estimate from several groups: exact for one group, else count-weighted means."""
    groups = [p for p in parts if p.count]
    if not groups:
        return None
    if len(groups) == 1:
        return groups[0]
    n = sum(g.count for g in groups)
    return Quantiles(
        n, sum(g.p50 * g.count for g in groups) / n, sum(g.p95 * g.count for g in groups) / n
    )


def merge_buckets(parts: Iterable[tuple[str, int, Bucket]]) -> dict[str, dict[int, Bucket]]:
    """(key, bucket index, aggregates) rows, possibly several per bucket, as key -> index -> one."""
    merged: dict[str, dict[int, Bucket]] = {}
    for key, index, bucket in parts:
        slots = merged.setdefault(key, {})
        slots[index] = slots[index].merge(bucket) if index in slots else bucket
    return merged


def _counts(slots: Mapping[int, Bucket], axis: Sequence[float], now: float) -> list[float | None]:
    """Sums per bucket, 0 where nothing happened, None for buckets still in the future."""
    return [
        (slots[i].total if i in slots else 0.0) if t <= now else None for i, t in enumerate(axis)
    ]


def _per_turn(
    slots: Mapping[int, Bucket], turns: Mapping[int, Bucket], size: int
) -> list[float | None]:
    """Sums per bucket divided by the bucket's turns; None where no turn ended."""
    return [
        (slots[i].total if i in slots else 0.0) / turns[i].total
        if i in turns and turns[i].total
        else None
        for i in range(size)
    ]


def busiest_tools(
    buckets: Mapping[str, Mapping[int, Bucket]], limit: int = CHART_TOOLS
) -> list[str]:
    """The tool:NAME keys with the most calls, busiest first."""
    totals = {
        key: sum(b.total for b in slots.values())
        for key, slots in buckets.items()
        if key.startswith(TOOL_PREFIX)
    }
    return sorted(totals, key=lambda k: (-totals[k], k))[:limit]


def chart_series(
    window: Window,
    buckets: Mapping[str, Mapping[int, Bucket]],
    durations: Mapping[int, Quantiles],
    last_turn_before: float | None,
    now: float,
) -> dict[str, list[float | None]]:
    """The charted series on the window's bucket axis `t`; None where a bucket has no data."""
    axis = window.starts()
    empty: dict[int, Bucket] = {}
    turns = buckets.get("turns", empty)
    series: dict[str, list[float | None]] = {"t": [float(s) for s in axis]}

    series["turns_per_min"] = [
        (turns[i].total if i in turns else 0.0) * 60 / max(1.0, min(window.width, now - t))
        if t <= now
        else None
        for i, t in enumerate(axis)
    ]
    series["tool_calls_per_turn"] = _per_turn(buckets.get("tool_calls", empty), turns, len(axis))
    series["duration_p50"] = [
        durations[i].p50 if i in durations else None for i in range(len(axis))
    ]
    series["duration_p95"] = [
        durations[i].p95 if i in durations else None for i in range(len(axis))
    ]
    for cls in EXIT_CLASSES:
        series[f"exit_{cls}"] = _counts(buckets.get(f"exit:{cls}", empty), axis, now)
    depth = buckets.get("inbox_depth", empty)
    series["inbox_depth_max"] = [depth[i].high if i in depth else None for i in range(len(axis))]
    series["inbox_depth_avg"] = [depth[i].mean if i in depth else None for i in range(len(axis))]
    for direction in ("in", "out"):
        for kind in RECIPIENT_KINDS:
            slots = buckets.get(f"{direction}:{kind}", empty)
            series[f"{direction}_{kind}"] = _per_turn(slots, turns, len(axis))
    for key in busiest_tools(buckets):
        series[key] = _counts(buckets[key], axis, now)
    series["since_last_turn_s"] = _since_last_turn(window, turns, last_turn_before, now)
    notes = buckets.get("notes_bytes", empty)
    series["notes_bytes"] = [notes[i].high if i in notes else None for i in range(len(axis))]
    queue = buckets.get("approval_queue", empty)
    series["approval_queue_max"] = [queue[i].high if i in queue else None for i in range(len(axis))]
    return series


def _since_last_turn(
    window: Window, turns: Mapping[int, Bucket], last: float | None, now: float
) -> list[float | None]:
    """At each bucket's end (or now), seconds since the latest turn that ended by then."""
    values: list[float | None] = []
    for i, start in enumerate(window.starts()):
        if start > now:
            values.append(None)
            continue
        if i in turns:
            last = max(last or 0.0, turns[i].last_ts)
        end = min(start + window.width, now)
        values.append(round(end - last, 3) if last is not None else None)
    return values


def summary(
    window: Window,
    buckets: Mapping[str, Mapping[int, Bucket]],
    durations: Quantiles | None,
    latest: Mapping[str, float],
    last_turn: float | None,
    now: float,
) -> dict[str, object]:
    """Figures over the whole window (what `hivectl stats` prints)."""
    whole = {key: _total(slots.values()) for key, slots in buckets.items()}
    turns = whole["turns"].total if "turns" in whole else 0.0

    def per_turn(key: str) -> float | None:
        return (
            round(whole[key].total / turns, 3)
            if turns and key in whole
            else (0.0 if turns else None)
        )

    def high(key: str) -> float | None:
        return whole[key].high if key in whole else None

    minutes = max(1.0, min(window.until, now) - window.since) / 60
    return {
        "turns": int(turns),
        "turns_per_min": round(turns / minutes, 3),
        "tool_calls_per_turn": per_turn("tool_calls"),
        "duration_p50": round(durations.p50, 3) if durations else None,
        "duration_p95": round(durations.p95, 3) if durations else None,
        "exits": {
            c: int(whole[f"exit:{c}"].total) if f"exit:{c}" in whole else 0 for c in EXIT_CLASSES
        },
        "inbox_depth": {"now": latest.get("inbox_depth"), "max": high("inbox_depth")},
        "received_per_turn": {k: per_turn(f"in:{k}") for k in RECIPIENT_KINDS},
        "sent_per_turn": {k: per_turn(f"out:{k}") for k in RECIPIENT_KINDS},
        "tools": {
            key[len(TOOL_PREFIX) :]: int(whole[key].total)
            for key in busiest_tools(buckets, limit=len(buckets))
        },
        "last_turn": last_turn,
        "since_last_turn_s": round(now - last_turn, 3) if last_turn is not None else None,
        "notes_bytes": latest.get("notes_bytes"),
        "approval_queue": {"now": latest.get("approval_queue"), "max": high("approval_queue")},
    }


def _total(parts: Iterable[Bucket]) -> Bucket:
    result: Bucket | None = None
    for part in parts:
        result = part if result is None else result.merge(part)
    return result or Bucket(0, 0.0, 0.0, 0.0, 0.0)


def is_stuck(oldest_unread: float | None, now: float, stuck_after: float) -> bool:
    """Stuck: a message has waited in the inbox longer than telemetry.stuck_after."""
    return oldest_unread is not None and now - oldest_unread > stuck_after


def sparkline(values: Sequence[float], width: int = 100, height: int = 20) -> str:
    """SVG polyline points for `values`, scaled to width x height (max at the top)."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values)
    )
