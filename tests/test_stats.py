"""Telemetry on a real sqlite file and the real apps: ingestion, sampling, queries, retention."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.store import Database, queries
from gitops_hive.store import stats as store
from gitops_hive.store.stats_writer import StatsWriter
from gitops_hive.telemetry.retention import Retention
from gitops_hive.telemetry.series import HIVE_SERIES
from gitops_hive.web.agent_api import make_agent_app
from gitops_hive.web.control_api import make_control_app
from tests.conftest import make_root, started_hive

Client = TestClient[Any, Any]
HOUR = 3600.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "hive.db")
    try:
        async with database.write() as conn:
            await queries.insert_agent(conn, "worker")
        yield database
    finally:
        await database.close()


def count_rows(path: Path, table: str = "stats") -> int:
    with sqlite3.connect(path) as plain:
        return int(plain.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_the_writer_batches_rows_into_one_transaction(db: Database, tmp_path: Path) -> None:
    flushed: list[set[str]] = []
    writer = StatsWriter(db, interval=3600, batch=10_000, on_flush=flushed.append)
    writer.add("worker", 1.0, {"turns": 1, "duration_s": 2.5})
    writer.add(HIVE_SERIES, 1.0, {"approval_queue": 3})
    assert writer.pending == 3
    assert count_rows(tmp_path / "hive.db") == 0  # nothing written yet: no transaction per row
    assert await writer.flush() == 3
    assert count_rows(tmp_path / "hive.db") == 3
    assert flushed == [{"worker", HIVE_SERIES}]
    assert await writer.flush() == 0 and len(flushed) == 1


async def test_the_writer_flushes_on_its_own_when_a_batch_fills(
    db: Database, tmp_path: Path
) -> None:
    done = asyncio.Event()
    writer = StatsWriter(db, interval=3600, batch=4, on_flush=lambda agents: done.set())
    writer.start()
    try:
        writer.add("worker", 1.0, {"a": 1, "b": 2})
        writer.add("worker", 2.0, {"a": 1, "b": 2})  # four rows: a full batch
        await asyncio.wait_for(done.wait(), 10)
        assert count_rows(tmp_path / "hive.db") == 4
        writer.add("worker", 3.0, {"a": 1})  # one row; the interval is an hour away
    finally:
        await writer.close()  # writes what is left
    assert count_rows(tmp_path / "hive.db") == 5


async def test_the_writer_flushes_after_its_interval(db: Database, tmp_path: Path) -> None:
    done = asyncio.Event()
    writer = StatsWriter(db, interval=0.05, batch=10_000, on_flush=lambda agents: done.set())
    writer.start()
    try:
        writer.add("worker", 1.0, {"a": 1})
        await asyncio.wait_for(done.wait(), 10)
        assert count_rows(tmp_path / "hive.db") == 1
    finally:
        await writer.close()


async def insert(db: Database, agent: str, rows: list[tuple[float, str, float]]) -> None:
    async with db.write() as conn:
        await store.insert_rows(conn, [store.StatRow(agent, ts, k, v) for ts, k, v in rows])


def turn_rows(ts: float, duration: float, tools: int = 2) -> list[tuple[float, str, float]]:
    return [
        (ts, "turns", 1.0),
        (ts, "duration_s", duration),
        (ts, "tool_calls", float(tools)),
        (ts, "tool:Bash", float(tools)),
        (ts, "exit:ok", 1.0),
        (ts, "in:operator", 1.0),
        (ts, "notes_bytes", 100.0 + ts % 1000),
    ]


async def test_retention_rolls_old_rows_up_in_bounded_batches(db: Database, tmp_path: Path) -> None:
    now = 1_700_000_000.0
    old = [r for i in range(50) for r in turn_rows(now - 3 * 86400 + i * 60, float(i % 7))]
    fresh = turn_rows(now - 60, 1.0)
    await insert(db, "worker", old + fresh)
    await insert(db, HIVE_SERIES, [(now - 3 * 86400, "approval_queue", 2.0)])
    retention = Retention(
        db, raw_retention=86400, rollup_retention=30 * 86400, width=300, every=60, batch=7
    )

    outcome = await retention.run_once(now)

    path = tmp_path / "hive.db"
    assert outcome.rolled_up == len(old) + 1
    assert count_rows(path) == len(fresh)  # only the fresh turn stays raw
    with sqlite3.connect(path) as plain:
        turns = plain.execute(
            "SELECT sum(count), sum(sum) FROM stats_rollup WHERE agent = 'worker' AND key = 'turns'"
        ).fetchone()
        durations = plain.execute(
            "SELECT sum(count), sum(sum), min(min), max(max) FROM stats_rollup"
            " WHERE agent = 'worker' AND key = 'duration_s'"
        ).fetchone()
        starts = [s for (s,) in plain.execute("SELECT DISTINCT start FROM stats_rollup")]
    assert turns == (50, 50.0)
    assert durations == (50, float(sum(i % 7 for i in range(50))), 0.0, 6.0)
    assert all(s % 300 == 0 for s in starts)
    # A second pass finds nothing more to do.
    assert await retention.run_once(now) == type(outcome)(0, 0)
    # Rollups past their own retention go, in batches too.
    later = await retention.run_once(now + 40 * 86400)
    assert later.rolled_up == len(fresh) and later.rollups_expired > 7
    assert count_rows(path) == count_rows(path, "stats_rollup") == 0


class Hived:
    """A hive (no serve) with its control app and one agent's socket app as clients."""

    def __init__(self, hive: Hive, api: Client, agent: Client) -> None:
        self.hive = hive
        self.api = api
        self.agent = agent

    async def turn(self, **figures: Any) -> Any:
        response = await self.agent.post("/v1/turns", json=figures)
        return response.status, await response.json()

    async def stats(self, query: str) -> tuple[int, Any]:
        response = await self.api.get(f"/api/stats?{query}")
        return response.status, await response.json()


@pytest.fixture
async def hived(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Hived]:
    hive = await started_hive(HiveLayout(make_root(tmp_path / "hive")))
    await hive.draft("worker")
    try:
        api = await aiohttp_client(make_control_app(hive))
        agent = await aiohttp_client(make_agent_app(hive.agent_calls("worker"), os.getuid()))
        yield Hived(hive, api, agent)
    finally:
        await hive.close()


async def test_turn_ends_are_validated_and_charted(hived: Hived) -> None:
    status, body = await hived.turn(
        duration_s=4.0,
        exit_code=0,
        tool_calls={"Bash": 3, "mcp__hive__send": 1},
        messages_in=2,
        messages_out=1,
        received={"operator": 1, "system": 1},
        sent={"manager": 1},
        notes_bytes=2048,
    )
    assert status == 201 and body["recorded"] == 13
    assert (await hived.turn(duration_s=8.0, exit_code=3, notes_bytes=4096))[0] == 201
    status, body = await hived.turn(duration_s="slow")
    assert status == 400 and body == {"error": "duration_s must be a number", "code": "bad_request"}
    status, body = await hived.turn(tool_calls={f"t{i}": 1 for i in range(65)})
    assert status == 400 and "at most 64" in body["error"]
    await hived.hive.ctx.stats.flush()

    status, data = await hived.stats("agent=worker&since=10m")
    assert status == 200, data
    assert data["resolution"] == "raw" and data["bucket_s"] == 10
    assert data["keys"]["turns"]["v"] == [1.0, 1.0]
    assert data["keys"]["duration_s"]["v"] == [4.0, 8.0]
    summary = data["summary"]
    assert summary["turns"] == 2
    assert summary["duration_p50"] == 6.0 and summary["duration_p95"] == pytest.approx(7.8)
    assert summary["exits"] == {"ok": 1, "retried": 0, "failure": 1}
    assert summary["tool_calls_per_turn"] == 2.0
    assert summary["received_per_turn"]["operator"] == 0.5
    assert summary["tools"] == {"Bash": 3, "mcp__hive__send": 1}
    assert summary["notes_bytes"] == 4096  # the latest
    assert summary["since_last_turn_s"] is not None and summary["since_last_turn_s"] >= 0
    series = data["series"]
    assert sum(v or 0 for v in series["turns_per_min"]) > 0
    assert max(v for v in series["duration_p95"] if v is not None) == pytest.approx(7.8)
    charts = {c["id"]: c["series"] for c in data["charts"]}
    assert charts["tools"] == ["tool:Bash", "tool:mcp__hive__send"]
    assert all(name in series for names in charts.values() for name in names)

    status, data = await hived.stats("agent=worker&since=10m&keys=duration_s,tool:Bash")
    assert sorted(data["keys"]) == ["duration_s", "tool:Bash"]


async def test_inbox_depth_and_the_approval_queue_are_sampled(hived: Hived) -> None:
    hive = hived.hive
    for text in ("one", "two", "three"):
        await hive.send("worker", text)
    await hive.sampler.sample()
    await hive.submit("worker", None, source="test")  # the draft's commit: one pending approval
    await hive.sampler.sample()
    await hive.ctx.stats.flush()
    status, data = await hived.stats("agent=worker&since=10m")
    assert status == 200
    assert data["keys"]["inbox_depth"]["v"][-1] == 3
    assert data["summary"]["inbox_depth"] == {"now": 3.0, "max": 3.0}
    assert data["keys"]["approval_queue"]["v"][-1] == 1
    assert data["oldest_unread"] is not None and not data["stuck"]
    later = await hive.stats_line("worker", time.time() + 3600)  # an hour on: stuck
    assert later["stuck"] and later["last_turn"] is None


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("since=1h", 400, "agent is required"),
        ("agent=nobody&since=1h", 404, "no agent nobody"),
        ("agent=Bad_Name&since=1h", 400, "invalid agent name"),
        ("agent=worker&since=yesterday", 400, "'yesterday' is not a duration"),
        ("agent=worker&since=1h&until=2h", 400, "since must be before until"),
        ("agent=worker&since=1h&keys=duration_s,bogus", 400, "unknown key 'bogus'"),
        ("agent=worker&since=1h&keys=,", 400, "keys must name 1 to 64 keys"),
    ],
)
async def test_bad_stats_queries_get_one_line_errors(
    hived: Hived, query: str, status: int, message: str
) -> None:
    got, body = await hived.stats(query)
    assert got == status, body
    assert message in body["error"] and "\n" not in body["error"]


async def test_long_windows_are_bucketed_and_rollups_answer_the_same(hived: Hived) -> None:
    hive = hived.hive
    now = time.time()
    start = now - 2 * 86400
    rows = [r for i in range(200) for r in turn_rows(start + i * 600, float(i % 10))]
    await insert(hive.ctx.db, "worker", rows)
    query = f"agent=worker&since={start - 1:.3f}&until={now:.3f}"
    status, before = await hived.stats(query)
    assert status == 200, before
    assert before["resolution"] == "buckets" and before["bucket_s"] == 900
    assert sum(before["keys"]["turns"]["count"]) == 200
    assert before["summary"]["turns"] == 200
    assert before["summary"]["duration_p50"] == pytest.approx(4.5)

    # Rollups at their first width (none coarsened: tests/test_rollup_tiers.py has those).
    retention = Retention(
        hive.ctx.db,
        raw_retention=3600,
        rollup_retention=30 * 86400,
        width=300,
        every=60,
        coarser=(),
    )
    assert (await retention.run_once(now)).rolled_up == len(rows)
    status, after = await hived.stats(query)
    assert after["summary"]["turns"] == 200
    assert after["keys"]["turns"]["count"] == before["keys"]["turns"]["count"]
    assert after["keys"]["tool:Bash"]["sum"] == before["keys"]["tool:Bash"]["sum"]
    assert after["series"]["turns_per_min"] == before["series"]["turns_per_min"]
    # (The bucket in progress ends "now", which moved between the two answers.)
    assert after["series"]["since_last_turn_s"][:-1] == before["series"]["since_last_turn_s"][:-1]
    # One turn per rollup bucket: the rolled-up quantiles are the turns' own durations.
    assert after["summary"]["duration_p50"] == pytest.approx(4.5)


async def test_since_data_fits_the_window_to_the_agents_own_rows(hived: Hived) -> None:
    status, data = await hived.stats("agent=worker&since=data")
    assert status == 200 and data["until"] - data["since"] == pytest.approx(HOUR, abs=5)
    now = time.time()
    hived.hive.ctx.stats.add("worker", now - 1200, {"turns": 1.0, "duration_s": 3.0})
    hived.hive.ctx.stats.add("worker", now - 20, {"turns": 1.0, "duration_s": 5.0})
    await hived.hive.ctx.stats.flush()
    status, data = await hived.stats("agent=worker&since=data")
    assert status == 200, data
    span = data["until"] - data["since"]
    assert 1200 < span < 1200 * 1.1  # from just before the first row, not an empty hour
    assert data["summary"]["turns"] == 2
    assert data["series"]["t"][0] <= now - 1200 < data["series"]["t"][0] + 0.1 * span
    # Rows older than a week are out of reach: the window fits the newest week's first.
    hived.hive.ctx.stats.add("worker", now - 30 * 86400, {"turns": 1.0})
    await hived.hive.ctx.stats.flush()
    status, data = await hived.stats("agent=worker&since=data")
    assert 1200 < data["until"] - data["since"] < 1200 * 1.1
    hived.hive.ctx.stats.add("worker", now - 6.9 * 86400, {"turns": 1.0})
    await hived.hive.ctx.stats.flush()
    status, data = await hived.stats("agent=worker&since=data")
    assert data["until"] - data["since"] == pytest.approx(7 * 86400, abs=5)  # capped


async def test_since_data_is_at_least_a_few_minutes(hived: Hived) -> None:
    hived.hive.ctx.stats.add("worker", time.time() - 5, {"turns": 1.0})
    await hived.hive.ctx.stats.flush()
    status, data = await hived.stats("agent=worker&since=data")
    assert status == 200 and data["until"] - data["since"] == pytest.approx(300, abs=5)
