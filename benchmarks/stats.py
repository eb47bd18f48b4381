"""Telemetry: stats rows ingested per second, and /api/stats latency over a day of data.

Ingestion (in process, a real sqlite file, WAL, synchronous=FULL): TurnEnds of 13 rows
each, written the way the controller does (StatsWriter: one transaction per 0.5 s or 500
rows) against the baseline of one transaction per TurnEnd. Meanwhile a task stands in for
approvals, taking the write lock every 5 ms for a one-row update; its wait is the
contention figure.

Query (a real `hivectl serve`, over its control socket): the stats table is filled with
ten agents' turns over seven days, the raw retention (--rows, at least a million), then
`GET /api/stats?agent=a0&since=24h` is timed; baselines in the same run: the same request
without the stats(agent, ts, key, value) index, and, for scale, a naive read of the agent's
raw day bucketed in Python. Then one retention pass rolls up everything older than 12 h.
Run: `.venv/bin/python benchmarks/stats.py [--rows N]`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _harness import bench_hive, sizes, summary

from gitops_hive.client import ControlClient
from gitops_hive.store import Database
from gitops_hive.store import stats as store
from gitops_hive.store.stats_writer import StatsWriter
from gitops_hive.telemetry.retention import Retention

AGENTS = 10
DAYS = 7  # telemetry.raw_retention's default: the raw rows a hive keeps
ROWS_PER_TURN = 13


def turn(i: int) -> dict[str, float]:
    """One TurnEnd's rows, as turns.turn_values makes them."""
    return {
        "duration_s": 1.0 + (i % 17) * 0.7,
        "exit_code": 0.0,
        "messages_in": 1.0,
        "messages_out": 1.0,
        "notes_bytes": 4096.0 + i,
        "turns": 1.0,
        "tool_calls": 3.0,
        "tool:Bash": 2.0,
        "tool:mcp__hive__send": 1.0,
        "exit:ok": 1.0,
        "in:operator": 1.0,
        "out:manager": 1.0,
        "inbox_depth": float(i % 4),
    }


async def approvals_meanwhile(db: Database, stop: asyncio.Event) -> list[float]:
    """A one-row write every 5 ms; how long each waited for the lock and committed (ms)."""
    waits = []
    while not stop.is_set():
        started = time.perf_counter()
        async with db.write() as conn:
            await conn.execute("UPDATE agents SET auto_submit = auto_submit WHERE name = 'a0'")
        waits.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return waits


async def ingest(turns: int, batched: bool, rate: float | None) -> tuple[float, list[float]]:
    """Rows per second for `turns` TurnEnds (as fast as they go, or `rate` a second), and
    the approvals' waits meanwhile."""
    with tempfile.TemporaryDirectory(prefix="stats-bench-") as tmp:
        db = await Database.open(Path(tmp) / "hive.db")
        async with db.write() as conn:
            await conn.execute("INSERT INTO agents (name, created) VALUES ('a0', 0)")
        stop = asyncio.Event()
        approvals = asyncio.create_task(approvals_meanwhile(db, stop))
        writer = StatsWriter(db)
        writer.start()
        started = time.perf_counter()
        for i in range(turns):
            if rate is not None:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            if batched:
                writer.add("a0", float(i), turn(i))
                await asyncio.sleep(0)  # turns arrive one request at a time
            else:
                async with db.write() as conn:
                    await store.insert_rows(
                        conn, [store.StatRow("a0", float(i), k, v) for k, v in turn(i).items()]
                    )
        await writer.close()
        elapsed = time.perf_counter() - started
        stop.set()
        waits = await approvals
        rows = int((await db.fetchone("SELECT count(*) AS n FROM stats"))["n"])  # type: ignore[index]
        await db.close()
    assert rows == turns * ROWS_PER_TURN, rows
    return rows / elapsed, waits


def fill(db_path: Path, rows: int, now: float) -> int:
    """Ten agents' turns over the last DAYS (raw retention); returns the rows written."""
    turns_per_agent = -(-rows // (AGENTS * ROWS_PER_TURN))
    step = DAYS * 86400 / turns_per_agent
    written = 0
    with sqlite3.connect(db_path) as conn:
        for a in range(AGENTS):
            batch = []
            for i in range(turns_per_agent):
                ts = now - DAYS * 86400 + i * step
                batch.extend((f"a{a}", ts, k, v) for k, v in turn(i).items())
            conn.executemany("INSERT INTO stats (agent, ts, key, value) VALUES (?, ?, ?, ?)", batch)
            written += len(batch)
    return written


def timed_stats(client: ControlClient, rounds: int) -> list[float]:
    """`rounds` timings of `GET /api/stats?agent=a0&since=24h`, in ms."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.stats("a0", since="24h")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def naive(db_path: Path, since: float) -> list[float]:
    """The baseline: every raw row of the agent's day, bucketed in Python."""
    started = time.perf_counter()
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT ts, key, value FROM stats WHERE agent = 'a0' AND ts >= ?", (since,)
        ).fetchall()
    buckets: defaultdict[tuple[str, int], list[float]] = defaultdict(list)
    for ts, key, value in rows:
        buckets[(key, int((ts - since) // 600))].append(value)
    _ = {k: (len(v), sum(v), min(v), max(v)) for k, v in buckets.items()}
    return [(time.perf_counter() - started) * 1000]


async def rollup(db_path: Path, now: float) -> tuple[int, float]:
    db = await Database.open(db_path)
    retention = Retention(db, raw_retention=43200, rollup_retention=90 * 86400, width=300, every=1)
    started = time.perf_counter()
    outcome = await retention.run_once(now)
    elapsed = time.perf_counter() - started
    await db.close()
    return outcome.rolled_up, elapsed


def main() -> None:
    # rows to query over, TurnEnds to ingest, requests per query figure
    quick = {"rows": 20_000, "turns": 200, "rounds": 3}
    args = sizes(__doc__, quick, rows=1_200_000, turns=3000, rounds=20)

    print(f"ingestion: {args.turns} TurnEnds of {ROWS_PER_TURN} rows, as fast as they go")
    results = {}
    modes = (("one transaction per TurnEnd", False), ("StatsWriter batches", True))
    for label, batched in modes:
        rate, _ = asyncio.run(ingest(args.turns, batched, None))
        results[batched] = rate
        print(f"  {label:<30} {rate:>10,.0f} rows/s")
    print(f"  batched / unbatched: {results[True] / results[False]:.1f}x the rows per second")
    busy = 200
    print(f"contention: {busy} TurnEnds/s for 3 s; a one-row write (an approval) every 5 ms")
    for label, batched in modes:
        _, waits = asyncio.run(ingest(busy * 3, batched, busy))
        print(summary(f"  approval write, {label[:16]}", waits))

    with bench_hive() as hive:
        for a in range(AGENTS):
            hive.client.draft(f"a{a}")
        now = time.time()
        db_path = hive.layout.db
        started = time.perf_counter()
        rows = fill(db_path, args.rows, now)
        print(
            f"\nquery: {rows:,} rows in stats ({AGENTS} agents, {DAYS} days each), "
            f"filled in {time.perf_counter() - started:.1f} s"
        )
        timed_stats(hive.client, 2)  # warm the page cache
        indexed = timed_stats(hive.client, args.rounds)
        print(summary("GET /api/stats a0, 24h", indexed))
        with sqlite3.connect(db_path) as conn:
            conn.execute("DROP INDEX stats_agent_ts")
        unindexed = timed_stats(hive.client, max(3, args.rounds // 4))
        print(summary("  without stats(agent, ts, ...)", unindexed))
        with sqlite3.connect(db_path) as conn:
            conn.execute("CREATE INDEX stats_agent_ts ON stats(agent, ts, key, value)")
        raw = [naive(db_path, now - 86400)[0] for _ in range(max(3, args.rounds // 4))]
        print(summary("  naive: raw rows, Python buckets", raw) + "  (no HTTP, no JSON)")
        p50 = statistics.median(indexed)
        print(
            f"  index: {statistics.median(unindexed) / p50:.1f}x faster; "
            f"SQL buckets vs naive: {statistics.median(raw) / p50:.1f}x faster"
        )
        rolled, elapsed = asyncio.run(rollup(db_path, now))
        batches = -(-rolled // 2000)
        print(
            f"\nretention: {rolled:,} rows older than 12 h rolled up in {elapsed:.2f} s "
            f"({rolled / elapsed:,.0f} rows/s, {batches} transactions, "
            f"{elapsed / max(1, batches) * 1000:.1f} ms each on average)"
        )
        after = timed_stats(hive.client, args.rounds)
        print(summary("GET /api/stats a0, 24h, after it", after))


if __name__ == "__main__":
    main()
