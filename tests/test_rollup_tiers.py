"""Rollups coarsen as they age: 5-minute buckets become hourly after a day and daily after a
week, with counts, sums, extremes and weighted quantiles kept, so hive.db stops growing with
every rolled-up week (a real sqlite file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.store import Database
from gitops_hive.telemetry.retention import DAY, Retention
from tests.test_stats import count_rows, db, insert  # noqa: F401  (the db fixture)

NOW = 1_700_000_000.0


def _retention(db: Database) -> Retention:  # noqa: F811
    return Retention(db, raw_retention=DAY, rollup_retention=90 * DAY, width=300, every=60)


def _totals(path: Path) -> tuple[int, float, float, float]:
    with sqlite3.connect(path) as plain:
        row = plain.execute(
            "SELECT sum(count), sum(sum), min(min), max(max) FROM stats_rollup WHERE key = 'd'"
        ).fetchone()
    return int(row[0]), float(row[1]), float(row[2]), float(row[3])


def _widths(path: Path) -> dict[float, int]:
    with sqlite3.connect(path) as plain:
        return dict(plain.execute("SELECT width, count(*) FROM stats_rollup GROUP BY width"))


async def test_rollups_coarsen_by_age_and_keep_their_totals(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    # A point every 10 minutes for 10 days: raw for the last day, then 5-minute rollups.
    points = [(NOW - 10 * DAY + i * 600, "d", float(i % 13)) for i in range(10 * 144)]
    await insert(db, "worker", points)
    raw_kept = sum(1 for ts, _, _ in points if ts >= _retention(db).cutoff(NOW))
    outcome = await _retention(db).run_once(NOW)
    path = tmp_path / "hive.db"
    assert outcome.rolled_up == len(points) - raw_kept and outcome.coarsened > 0
    older = [v for ts, _, v in points if ts < _retention(db).cutoff(NOW)]
    assert _totals(path) == (len(older), sum(older), min(older), max(older))
    widths = _widths(path)
    assert set(widths) <= {300.0, 3600.0, DAY}
    assert widths.get(300.0, 0) <= 12  # 5 minutes only in the hour the day began
    assert widths[DAY] <= 4  # days 10 to 7 ago (partial at the edges)
    assert widths[3600.0] <= 7 * 24  # the six days before, and the day the week began
    with sqlite3.connect(path) as plain:
        starts = plain.execute("SELECT start, width FROM stats_rollup").fetchall()
    assert all(start % width == 0 for start, width in starts)
    # Another pass finds nothing more to merge; a day later, one more day goes daily.
    assert (await _retention(db).run_once(NOW)).coarsened == 0
    later = await _retention(db).run_once(NOW + DAY)
    assert later.coarsened > 0
    assert _widths(path)[DAY] > widths[DAY]
    assert count_rows(path) == 0  # the last raw day rolled up too


async def test_weighted_quantiles_survive_the_merge(db: Database, tmp_path: Path) -> None:  # noqa: F811
    # Two 5-minute buckets of one hour, eight days ago: 3 points of 1.0 and 1 point of 9.0.
    hour = (NOW - 8 * DAY) // 3600 * 3600
    await insert(
        db, "worker", [(hour + 10, "d", 1.0), (hour + 20, "d", 1.0), (hour + 30, "d", 1.0)]
    )
    await insert(db, "worker", [(hour + 400, "d", 9.0)])
    retention = Retention(
        db, raw_retention=DAY, rollup_retention=90 * DAY, width=300, every=60, coarser=()
    )
    await retention.run_once(NOW)
    assert _widths(tmp_path / "hive.db") == {300.0: 2}
    await _retention(db).run_once(NOW)  # now merged, daily (older than a week)
    with sqlite3.connect(tmp_path / "hive.db") as plain:
        rows = plain.execute("SELECT width, count, p50, p95 FROM stats_rollup").fetchall()
    assert rows == [(DAY, 4, (1.0 * 3 + 9.0) / 4, (1.0 * 3 + 9.0) / 4)]


async def test_rollups_that_age_into_a_tier_coarsen_with_no_new_rows(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    retention = Retention(db, raw_retention=3600, rollup_retention=90 * DAY, width=300, every=60)
    await insert(db, "worker", [(NOW - 20 * 3600 + i * 600, "d", 1.0) for i in range(100)])
    first = await retention.run_once(NOW)
    assert first.rolled_up == 100 and first.coarsened == 0  # all younger than a day
    assert set(_widths(tmp_path / "hive.db")) == {300.0}
    later = await retention.run_once(NOW + DAY)  # no raw rows left: they aged into the tier
    assert later.rolled_up == 0 and later.coarsened > 0
    assert set(_widths(tmp_path / "hive.db")) == {3600.0}


async def test_a_pass_with_nothing_to_do_opens_no_write(
    db: Database,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await insert(db, "worker", [(NOW - 60, "d", 1.0)])
    retention = _retention(db)
    write = db.write
    writes: list[None] = []

    def counted() -> Any:
        writes.append(None)
        return write()

    monkeypatch.setattr(db, "write", counted)
    assert await retention.run_once(NOW) == type(await retention.run_once(NOW))(0, 0, 0)
    assert writes == []
