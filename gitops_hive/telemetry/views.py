"""Read models of telemetry: /api/stats for one agent, and the overview's line per agent."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gitops_hive.agents import require_agent
from gitops_hive.context import HiveContext
from gitops_hive.durations import parse_instant
from gitops_hive.errors import HiveError
from gitops_hive.protocol import RECIPIENT_KINDS
from gitops_hive.records import Bucket, Quantiles
from gitops_hive.store import inbox
from gitops_hive.store import stats as store
from gitops_hive.telemetry.retention import widest_rollup
from gitops_hive.telemetry.series import (
    HIVE_KEYS,
    HIVE_SERIES,
    PERCENTILE_KEYS,
    Window,
    busiest_tools,
    chart_series,
    choose_width,
    combine_quantiles,
    is_known_key,
    is_stuck,
    merge_buckets,
    quantiles,
    sparkline,
    summary,
)

FIT = "data"  # since=data: the window fitted to the agent's own data, within FIT_MOST
FIT_MOST = 7 * 86400.0
FIT_LEAST = 300.0  # the narrowest fitted window, in seconds
RAW_LIMIT = 20_000  # more raw rows than this in a window: buckets instead
MAX_KEYS = 64
SPARK_WINDOW = 3600.0
SPARK_BUCKETS = 30
CHARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("turns", "Turns per minute", ("turns_per_min",)),
    ("tools_per_turn", "Tool calls per turn", ("tool_calls_per_turn",)),
    ("duration", "Turn duration, seconds", ("duration_p50", "duration_p95")),
    ("exits", "Agent CLI exits", ("exit_ok", "exit_retried", "exit_failure")),
    ("inbox", "Inbox depth", ("inbox_depth_max", "inbox_depth_avg")),
    ("received", "Messages received per turn", tuple(f"in_{k}" for k in RECIPIENT_KINDS)),
    ("sent", "Messages sent per turn", tuple(f"out_{k}" for k in RECIPIENT_KINDS)),
    ("tools", "Tool calls", ()),  # the busiest tools, filled in per answer
    ("idle", "Seconds since the last turn", ("since_last_turn_s",)),
    ("notes", "Notes file size, bytes", ("notes_bytes",)),
    ("approvals", "Approval queue (whole hive)", ("approval_queue_max",)),
)


@dataclass(frozen=True)
class StatsQuery:
    """What /api/stats was asked: one agent, a window, optionally some stored keys."""

    agent: str
    since: float
    until: float
    keys: tuple[str, ...] | None = None
    fit: bool = False  # narrow `since` to just before the agent's first row in the window


def parse_query(
    agent: str | None, since: str | None, until: str | None, keys: str | None, now: float
) -> StatsQuery:
    """Check the query's parameters; a one-line HiveError names the first bad one."""
    if not agent:
        raise HiveError("agent is required: /api/stats?agent=NAME&since=1h")
    fit = since == FIT
    start = now - FIT_MOST if fit else parse_instant(since or "1h", now)
    end = parse_instant(until, now) if until else now
    if end <= start:
        raise HiveError("since must be before until")
    wanted = None
    if keys is not None:
        wanted = tuple(dict.fromkeys(k.strip() for k in keys.split(",") if k.strip()))
        if not wanted or len(wanted) > MAX_KEYS:
            raise HiveError(f"keys must name 1 to {MAX_KEYS} keys, comma-separated")
        unknown = [k for k in wanted if not is_known_key(k)]
        if unknown:
            raise HiveError(f"unknown key {unknown[0]!r}: see `hivectl stats --help` for the keys")
    return StatsQuery(agent, start, end, wanted, fit)


def fitted_since(since: float, until: float, first: float | None) -> float:
    """The start of a window fitted to data from `first` on: a little before it, at least
    FIT_LEAST long, never before `since`; `since` when there is no data."""
    if first is None:
        return max(since, until - 3600.0)  # nothing to fit: the usual hour
    span = max(FIT_LEAST, (until - first) * 1.05)
    return max(since, until - span)


def _durations(
    window: Window, raw: Iterable[tuple[float, float]], rolled: Iterable[tuple[float, Quantiles]]
) -> tuple[dict[int, Quantiles], Quantiles | None]:
    """Duration quantiles per bucket and over the whole window."""
    values: defaultdict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    for ts, value in raw:
        values[window.index(ts)].append(value)
        everything.append(value)
    parts: defaultdict[int, list[Quantiles]] = defaultdict(list)
    for i, vs in values.items():
        parts[i].append(quantiles(vs))
    rolled = list(rolled)
    for start, part in rolled:
        parts[window.index(start)].append(part)
    per_bucket = {i: m for i, ps in parts.items() if (m := combine_quantiles(ps)) is not None}
    whole = combine_quantiles(
        [*([quantiles(everything)] if everything else []), *(p for _, p in rolled)]
    )
    return per_bucket, whole


def _key_buckets(window: Window, slots: dict[int, Bucket]) -> dict[str, list[float]]:
    order = sorted(slots)
    return {
        "t": [window.origin + i * window.width for i in order],
        "count": [slots[i].count for i in order],
        "sum": [slots[i].total for i in order],
        "min": [slots[i].low for i in order],
        "max": [slots[i].high for i in order],
        "avg": [round(slots[i].mean, 6) for i in order],
    }


async def _keys_section(
    ctx: HiveContext,
    query: StatsQuery,
    window: Window,
    buckets: dict[str, dict[int, Bucket]],
    per_bucket: dict[int, Quantiles],
) -> tuple[str, dict[str, Any]]:
    if query.until - query.since <= ctx.config["telemetry.raw_span"]:
        own = [k for k in query.keys or () if k not in HIVE_KEYS] if query.keys else None
        points = await store.raw_points(
            ctx.db, query.agent, query.since, query.until, own, RAW_LIMIT + 1
        )
        hive_keys = [k for k in query.keys or HIVE_KEYS if k in HIVE_KEYS]
        if hive_keys:
            points += await store.raw_points(
                ctx.db, HIVE_SERIES, query.since, query.until, hive_keys, RAW_LIMIT + 1
            )
        if len(points) <= RAW_LIMIT:
            raw: dict[str, dict[str, list[float]]] = {}
            for ts, key, value in sorted(points):
                series = raw.setdefault(key, {"t": [], "v": []})
                series["t"].append(ts)
                series["v"].append(value)
            named = query.keys or sorted(raw)
            return "raw", {key: raw[key] for key in named if key in raw}
    section: dict[str, Any] = {}
    for key in query.keys or sorted(buckets):
        if key in buckets:
            section[key] = _key_buckets(window, buckets[key])
            if key in PERCENTILE_KEYS:
                order = sorted(i for i in buckets[key] if i in per_bucket)
                section[key]["p50"] = [per_bucket[i].p50 for i in order]
                section[key]["p95"] = [per_bucket[i].p95 for i in order]
    return "buckets", section


async def stats_view(ctx: HiveContext, query: StatsQuery, now: float) -> dict[str, Any]:
    """The series of one agent over a window: stored keys, charted series and a summary."""
    agent = await require_agent(ctx, query.agent)
    since = query.since
    if query.fit:
        since = fitted_since(since, query.until, await store.first_ts(ctx.db, agent, since))
    query = StatsQuery(agent, since, query.until, query.keys)
    window = Window(query.since, query.until, choose_width(query.until - query.since))
    reach = widest_rollup(ctx.config["telemetry.rollup_bucket"])
    rows = await store.bucket_rows(
        ctx.db, agent, query.since, query.until, window.width, None, reach, window.origin
    )
    rows += await store.bucket_rows(
        ctx.db, HIVE_SERIES, query.since, query.until, window.width, HIVE_KEYS, reach, window.origin
    )
    buckets = merge_buckets(rows)
    per_bucket, whole = _durations(
        window,
        await store.raw_values(ctx.db, agent, "duration_s", query.since, query.until),
        await store.rollup_quantiles(ctx.db, agent, "duration_s", query.since, query.until, reach),
    )
    before = await store.latest(ctx.db, agent, "turns", query.since)
    last = await store.latest(ctx.db, agent, "turns", math.inf)
    latest: dict[str, float] = {}
    for who, key in (
        (agent, "inbox_depth"),
        (agent, "notes_bytes"),
        (HIVE_SERIES, "approval_queue"),
    ):
        found = await store.latest(ctx.db, who, key, query.until)
        if found is not None:
            latest[key] = found[1]
    series = chart_series(window, buckets, per_bucket, before[0] if before else None, now)
    resolution, keys = await _keys_section(ctx, query, window, buckets, per_bucket)
    oldest = await inbox.oldest_unread(ctx.db, agent)
    stuck_after = ctx.config["telemetry.stuck_after"]
    return {
        "agent": agent,
        "since": query.since,
        "until": query.until,
        "now": now,
        "bucket_s": window.width,
        "resolution": resolution,
        "keys": keys,
        "series": series,
        "charts": [
            {"id": cid, "title": title, "series": list(names or busiest_tools(buckets))}
            for cid, title, names in CHARTS
        ],
        "summary": summary(window, buckets, whole, latest, last[0] if last else None, now),
        "oldest_unread": oldest,
        "stuck_after": stuck_after,
        "stuck": is_stuck(oldest, now, stuck_after),
    }


async def overview_line(ctx: HiveContext, agent: str, now: float) -> dict[str, Any]:
    """One agent's line on the overview: a turns sparkline, the last turn, stuck or not."""
    window = Window(now - SPARK_WINDOW, now, SPARK_WINDOW / SPARK_BUCKETS)
    reach = widest_rollup(ctx.config["telemetry.rollup_bucket"])
    rows = await store.bucket_rows(
        ctx.db, agent, window.since, now, window.width, ["turns"], reach, window.origin
    )
    turns = merge_buckets(rows).get("turns", {})
    counts = [turns[i].total if i in turns else 0.0 for i in range(window.size)]
    last = await store.latest(ctx.db, agent, "turns", math.inf)
    oldest = await inbox.oldest_unread(ctx.db, agent)
    return {
        "sparkline": sparkline(counts),
        "turns_last_hour": int(sum(counts)),
        "last_turn": last[0] if last else None,
        "since_last_turn_s": now - last[0] if last else None,
        "stuck": is_stuck(oldest, now, ctx.config["telemetry.stuck_after"]),
        "oldest_unread": oldest,
    }
