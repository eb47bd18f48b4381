"""Telemetry without I/O: durations, percentiles, buckets, the charted series, TurnEnd checks."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_hive.durations import format_duration, parse_duration, parse_instant
from gitops_hive.errors import HiveError
from gitops_hive.protocol import recipient_kind
from gitops_hive.records import Bucket, Quantiles, StatRow
from gitops_hive.telemetry.retention import roll_up
from gitops_hive.telemetry.series import (
    Window,
    busiest_tools,
    chart_series,
    choose_width,
    combine_quantiles,
    is_known_key,
    is_stuck,
    merge_buckets,
    percentile,
    quantiles,
    sparkline,
    summary,
)
from gitops_hive.telemetry.turns import MAX_TOOLS, exit_class, turn_values


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1y", "h", "-5", "0", "1 h", "5mm", "nan", "inf"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(HiveError):
        parse_duration(text)


def test_instants_are_timestamps_iso_times_or_durations_ago() -> None:
    now = 1_700_000_000.0
    assert parse_instant("1h", now) == now - 3600
    assert parse_instant("600", now) == now - 600  # small numbers are seconds ago
    assert parse_instant("1699990000.5", now) == 1699990000.5
    assert parse_instant("2023-11-14T22:13:20+00:00", now) == 1_700_000_000.0
    for bad in ("yesterday", "2023-13-45", "-1"):
        with pytest.raises(HiveError):
            parse_instant(bad, now)


def test_durations_format_short() -> None:
    assert format_duration(42) == "42 s"
    assert format_duration(600) == "10 min"
    assert format_duration(3 * 3600) == "3 h"
    assert format_duration(5 * 86400) == "5 d"


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0
    assert quantiles([3.0, 1.0, 2.0]) == Quantiles(3, 2.0, pytest.approx(2.9))
    with pytest.raises(ValueError):
        percentile([], 50)


def test_quantiles_of_several_groups_are_count_weighted() -> None:
    one = Quantiles(1, 10.0, 20.0)
    assert combine_quantiles([one]) is one
    assert combine_quantiles([Quantiles(0, 0, 0)]) is None
    merged = combine_quantiles([Quantiles(1, 10.0, 20.0), Quantiles(3, 2.0, 4.0)])
    assert merged == Quantiles(4, 4.0, 8.0)


def test_bucket_width_keeps_charts_under_the_point_budget() -> None:
    assert choose_width(3600) == 30  # 120 points
    assert choose_width(86400) == 600  # 144 points
    assert choose_width(600) == 10
    assert choose_width(365 * 86400) == 2 * 86400
    window = Window(1000.0, 1100.0, 30.0)  # buckets aligned to multiples of 30
    assert window.size == 4 and window.starts() == [990, 1020, 1050, 1080]
    assert window.index(1000) == 0 and window.index(1049.9) == 1 and window.index(1050) == 2


def test_known_keys() -> None:
    assert is_known_key("duration_s") and is_known_key("in:peer") and is_known_key("tool:Bash")
    assert is_known_key("approval_queue") and is_known_key("inbox_depth")
    assert not is_known_key("tool:") and not is_known_key("nonsense") and not is_known_key("in:x")


def b(count: int, total: float, low: float = 0, high: float = 0, last: float = 0) -> Bucket:
    return Bucket(count, total, low, high, last)


def test_buckets_from_raw_and_rollups_merge() -> None:
    merged = merge_buckets(
        [("turns", 0, b(2, 2, 1, 1, 5)), ("turns", 0, b(3, 3, 1, 1, 9)), ("turns", 1, b(1, 1))]
    )
    assert merged["turns"][0] == Bucket(5, 5, 1, 1, 9)
    assert merged["turns"][1].count == 1


def test_chart_series_on_the_bucket_axis() -> None:
    window = Window(0.0, 240.0, 60.0)  # four one-minute buckets; "now" is in the third
    buckets: dict[str, Any] = merge_buckets(
        [
            ("turns", 0, b(3, 3, 1, 1, 50)),
            ("tool_calls", 0, b(3, 12, 2, 6, 50)),
            ("exit:ok", 0, b(2, 2)),
            ("exit:failure", 0, b(1, 1)),
            ("in:operator", 0, b(3, 3)),
            ("out:manager", 0, b(1, 2)),
            ("tool:Bash", 0, b(3, 9)),
            ("tool:mcp__hive__send", 0, b(1, 2)),
            ("turns", 2, b(1, 1, 1, 1, 130)),
            ("inbox_depth", 1, b(2, 6, 2, 4)),
            ("notes_bytes", 0, b(3, 300, 50, 150)),
            ("approval_queue", 2, b(2, 3, 1, 2)),
        ]
    )
    durations = {0: Quantiles(3, 2.0, 3.8)}
    series = chart_series(window, buckets, durations, last_turn_before=None, now=150.0)
    assert series["t"] == [0, 60, 120, 180]
    assert series["turns_per_min"] == [3.0, 0.0, 2.0, None]  # 1 turn in the 30 s elapsed
    assert series["tool_calls_per_turn"] == [4.0, None, 0.0, None]
    assert series["duration_p50"] == [2.0, None, None, None]
    assert series["duration_p95"] == [3.8, None, None, None]
    assert series["exit_ok"] == [2, 0, 0, None]
    assert series["exit_failure"] == [1, 0, 0, None]
    assert series["exit_retried"] == [0, 0, 0, None]
    assert series["inbox_depth_max"] == [None, 4, None, None]
    assert series["inbox_depth_avg"] == [None, 3, None, None]
    assert series["in_operator"] == [1.0, None, 0.0, None]
    assert series["out_manager"] == [pytest.approx(2 / 3), None, 0.0, None]
    assert series["tool:Bash"] == [9, 0, 0, None]
    assert series["since_last_turn_s"] == [10, 70, 20, None]
    assert series["notes_bytes"] == [150, None, None, None]
    assert series["approval_queue_max"] == [None, None, 2, None]
    assert busiest_tools(buckets) == ["tool:Bash", "tool:mcp__hive__send"]


def test_time_since_last_turn_starts_from_the_turn_before_the_window() -> None:
    window = Window(100.0, 220.0, 60.0)  # buckets at 60, 120, 180
    series = chart_series(window, {}, {}, last_turn_before=40.0, now=1000.0)
    assert series["since_last_turn_s"] == [80, 140, 200]
    assert chart_series(window, {}, {}, None, 1000.0)["since_last_turn_s"] == [None] * 3


def test_summary_over_the_window() -> None:
    window = Window(0.0, 600.0, 60.0)
    buckets = merge_buckets(
        [
            ("turns", 0, b(2, 2, 1, 1, 30)),
            ("turns", 3, b(2, 2, 1, 1, 200)),
            ("tool_calls", 0, b(2, 6)),
            ("exit:ok", 0, b(3, 3)),
            ("exit:retried", 3, b(1, 1)),
            ("in:peer", 3, b(2, 4)),
            ("tool:Bash", 0, b(2, 6)),
            ("inbox_depth", 2, b(3, 9, 1, 7)),
            ("approval_queue", 1, b(1, 2, 2, 2)),
        ]
    )
    got = summary(
        window,
        buckets,
        Quantiles(4, 1.5, 9.0),
        {"inbox_depth": 1.0, "notes_bytes": 512.0, "approval_queue": 0.0},
        last_turn=200.0,
        now=300.0,
    )
    assert got["turns"] == 4
    assert got["turns_per_min"] == pytest.approx(4 / 5)  # five minutes have passed
    assert got["tool_calls_per_turn"] == 1.5
    assert got["duration_p50"] == 1.5 and got["duration_p95"] == 9.0
    assert got["exits"] == {"ok": 3, "retried": 1, "failure": 0}
    assert got["inbox_depth"] == {"now": 1.0, "max": 7}
    assert got["received_per_turn"] == {"peer": 1.0, "operator": 0.0, "manager": 0.0, "system": 0.0}
    assert got["tools"] == {"Bash": 6}
    assert got["since_last_turn_s"] == 100.0
    assert got["notes_bytes"] == 512.0
    assert got["approval_queue"] == {"now": 0.0, "max": 2}
    empty = summary(window, {}, None, {}, None, 300.0)
    assert empty["turns"] == 0 and empty["tool_calls_per_turn"] is None
    assert empty["since_last_turn_s"] is None


def test_stuck_means_a_message_waited_too_long() -> None:
    assert not is_stuck(None, now=1000, stuck_after=60)
    assert not is_stuck(950, now=1000, stuck_after=60)
    assert is_stuck(900, now=1000, stuck_after=60)


def test_sparkline_points_span_the_box() -> None:
    points = sparkline([0, 5, 10], width=100, height=20).split()
    assert points == ["0.0,19.0", "50.0,10.0", "100.0,1.0"]
    assert sparkline([]) == ""
    assert sparkline([0, 0]) == "0.0,19.0 100.0,19.0"


def test_roll_up_groups_by_agent_key_and_bucket() -> None:
    rows = [
        StatRow("w", 10.0, "duration_s", 1.0),
        StatRow("w", 20.0, "duration_s", 3.0),
        StatRow("w", 299.0, "duration_s", 2.0),
        StatRow("w", 300.0, "duration_s", 8.0),
        StatRow("w", 30.0, "turns", 1.0),
        StatRow("v", 30.0, "turns", 1.0),
    ]
    rollups = {(r.agent, r.key, r.start): r for r in roll_up(rows, 300.0)}
    first = rollups[("w", "duration_s", 0.0)]
    assert first.bucket == Bucket(3, 6.0, 1.0, 3.0, 299.0)
    assert first.quantiles == Quantiles(3, 2.0, pytest.approx(2.9))
    assert rollups[("w", "duration_s", 300.0)].bucket.count == 1
    assert rollups[("v", "turns", 0.0)].bucket.total == 1
    assert len(rollups) == 4


GOOD_TURN: dict[str, Any] = {
    "duration_s": 2.5,
    "exit_code": 0,
    "tool_calls": {"Bash": 2, "mcp__hive__send": 1},
    "messages_in": 2,
    "messages_out": 1,
    "notes_bytes": 120,
    "received": {"operator": 1, "system": 1},
    "sent": {"manager": 1},
    "attempts": 1,
    "model": "opus",  # a field this controller does not record is left alone
}


def test_a_turn_end_becomes_stats_rows() -> None:
    values = turn_values(GOOD_TURN)
    assert values == {
        "duration_s": 2.5,
        "exit_code": 0.0,
        "messages_in": 2.0,
        "messages_out": 1.0,
        "notes_bytes": 120.0,
        "turns": 1.0,
        "tool_calls": 3.0,
        "tool:Bash": 2.0,
        "tool:mcp__hive__send": 1.0,
        "exit:ok": 1.0,
        "in:operator": 1.0,
        "in:system": 1.0,
        "out:manager": 1.0,
    }
    assert turn_values({}) == {
        "duration_s": 0.0,
        "exit_code": 0.0,
        "messages_in": 0.0,
        "messages_out": 0.0,
        "notes_bytes": 0.0,
        "turns": 1.0,
        "tool_calls": 0.0,
        "exit:ok": 1.0,
    }
    assert turn_values({**GOOD_TURN, "attempts": 2})["exit:retried"] == 1
    assert turn_values({**GOOD_TURN, "exit_code": 1, "attempts": 2})["exit:failure"] == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration_s", "3", "duration_s must be a number"),
        ("duration_s", True, "duration_s must be a number"),
        ("duration_s", -1, "duration_s must be a number from 0"),
        ("duration_s", float("inf"), "duration_s must be a number from 0"),
        ("exit_code", 1.5, "exit_code must be a whole number"),
        ("notes_bytes", 2**60, "notes_bytes must be a number from 0"),
        ("attempts", 0, "attempts must be a number from 1"),
        ("tool_calls", [], "tool_calls must map names to counts"),
        ("tool_calls", {"Bash": -1}, "the count of 'Bash' must be a whole number"),
        ("tool_calls", {"Bash": 1.5}, "the count of 'Bash' must be a whole number"),
        ("tool_calls", {"x" * 101: 1}, "names must be 1 to 100 characters"),
        ("tool_calls", {"": 1}, "names must be 1 to 100 characters"),
        ("tool_calls", {"a\nb": 1}, "holds control characters"),
        (
            "tool_calls",
            {f"t{i}": 1 for i in range(MAX_TOOLS + 1)},
            f"at most {MAX_TOOLS} are recorded",
        ),
        ("received", {"boss": 1}, "'boss' is not one of"),
        ("sent", {"peer": True}, "the count of 'peer' must be a whole number"),
    ],
)
def test_a_bad_turn_end_is_refused_with_the_field_named(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(HiveError, match=message.replace("(", r"\(")):
        turn_values({**GOOD_TURN, field: value})


def test_kinds_and_exit_classes() -> None:
    assert recipient_kind("operator", "boss") == "operator"
    assert recipient_kind("hive", "boss") == "system"
    assert recipient_kind("boss", "boss") == "manager"
    assert recipient_kind("worker", "boss") == "peer"
    assert exit_class(0, 1) == "ok" and exit_class(0, 3) == "retried"
    assert exit_class(2, 1) == "failure" and exit_class(-9, 2) == "failure"
