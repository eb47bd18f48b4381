"""hivectl stats: one agent's telemetry over a window, as a compact table or JSON."""

from __future__ import annotations

from typing import Any

import click

from gitops_hive.cli.common import client_of, print_json, table, when
from gitops_hive.durations import format_duration
from gitops_hive.names import validate_name
from gitops_hive.telemetry.series import EXIT_CLASSES, HIVE_KEYS, SAMPLED_KEYS, TURN_KEYS

TOP_TOOLS = 5


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.1f} {unit}".replace(".0 B", " B")
        value /= 1024
    return "-"


def _kinds(figures: dict[str, float | None]) -> str:
    return ", ".join(f"{kind} {_num(v)}" for kind, v in figures.items())


def summary_rows(data: dict[str, Any]) -> list[list[str]]:
    """The summary of an /api/stats answer as (series, value) rows."""
    s = data["summary"]
    tools = sorted(s["tools"].items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{name} {n}" for name, n in tools[:TOP_TOOLS]) or "-"
    if len(tools) > TOP_TOOLS:
        shown += f" (+{len(tools) - TOP_TOOLS} more: --json)"
    since = s["since_last_turn_s"]
    last = f"{format_duration(since)} ago" if since is not None else "never"
    if data["stuck"]:
        waited = format_duration(data["now"] - data["oldest_unread"])
        last += f"  STUCK: a message has waited {waited}"
    exits = s["exits"]
    p50, p95 = s["duration_p50"], s["duration_p95"]
    depth, queue = s["inbox_depth"], s["approval_queue"]
    return [
        ["turns", str(s["turns"])],
        ["turns per minute", _num(s["turns_per_min"], 3)],
        ["tool calls per turn", _num(s["tool_calls_per_turn"])],
        ["turn duration p50 / p95", f"{_num(p50)} s / {_num(p95)} s" if p50 is not None else "-"],
        ["exits ok / retried / failure", " / ".join(str(exits[c]) for c in EXIT_CLASSES)],
        ["inbox depth now / max", f"{_num(depth['now'])} / {_num(depth['max'])}"],
        ["received per turn", _kinds(s["received_per_turn"])],
        ["sent per turn", _kinds(s["sent_per_turn"])],
        ["tool calls", shown],
        ["last turn", last],
        ["notes size", _size(s["notes_bytes"])],
        ["approval queue now / max (hive)", f"{_num(queue['now'])} / {_num(queue['max'])}"],
    ]


def key_rows(data: dict[str, Any]) -> list[list[str]]:
    """The stored keys of an /api/stats answer: points or buckets, min, average, max."""
    rows = []
    for key, series in data["keys"].items():
        if data["resolution"] == "raw":
            values = series["v"]
            n, low, high = len(values), min(values), max(values)
            avg = sum(values) / n
        else:
            n = sum(series["count"])
            low, high = min(series["min"]), max(series["max"])
            avg = sum(series["sum"]) / n
        rows.append([key, str(n), _num(low), _num(avg), _num(high)])
    return rows


@click.command()
@click.argument("name")
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="Start of the window: a duration ago (90s, 15m, 1h, 7d), a unix time, ISO 8601, or "
    "'data': just before the agent's first data (within 7 days).",
)
@click.option("--until", default=None, help="End of the window (default: now), same forms.")
@click.option(
    "--keys",
    default=None,
    metavar="A,B",
    help="Only these stored keys, one row each: "
    + ", ".join((*TURN_KEYS, *SAMPLED_KEYS, *HIVE_KEYS))
    + ", tool:NAME.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the /api/stats answer as JSON.")
@click.pass_context
def stats(
    ctx: click.Context, name: str, since: str, until: str | None, keys: str | None, as_json: bool
) -> None:
    """NAME's telemetry: turns, durations, exits, inbox, messages, tools, last turn."""
    validate_name(name)
    wanted = tuple(keys.split(",")) if keys else None
    data = client_of(ctx).stats(name, since, until or None, wanted)
    if as_json:
        print_json(data)
        return
    click.echo(
        f"{name}: {when(data['since'])} to {when(data['until'])} "
        f"({data['resolution']}, {format_duration(data['bucket_s'])} buckets on the charts)"
    )
    if keys:
        table(
            key_rows(data),
            ["KEY", "POINTS" if data["resolution"] == "raw" else "ROWS", "MIN", "AVG", "MAX"],
        )
    else:
        table(summary_rows(data), ["SERIES", "VALUE"])
