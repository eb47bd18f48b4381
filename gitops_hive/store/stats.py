"""SQL for telemetry: raw stats rows, their buckets, rollups, and what the sampler counts."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import aiosqlite

from gitops_hive.records import Bucket, Quantiles, Rollup, StatRow
from gitops_hive.store.db import Database


def _keys_clause(keys: Collection[str] | None) -> tuple[str, list[Any]]:
    if keys is None:
        return "", []
    return f" AND key IN ({', '.join('?' * len(keys))})", list(keys)


async def insert_rows(conn: aiosqlite.Connection, rows: Sequence[StatRow]) -> None:
    """Store raw rows (inside the caller's transaction)."""
    await conn.executemany(
        "INSERT INTO stats (agent, ts, key, value) VALUES (?, ?, ?, ?)",
        [tuple(row) for row in rows],
    )


async def raw_points(
    db: Database, agent: str, since: float, until: float, keys: Collection[str] | None, limit: int
) -> list[tuple[float, str, float]]:
    """(ts, key, value) of `agent` in [since, until), oldest first, at most `limit` rows."""
    where, params = _keys_clause(keys)
    rows = await db.fetchall(
        "SELECT ts, key, value FROM stats WHERE agent = ? AND ts >= ? AND ts < ?"
        f"{where} ORDER BY ts, id LIMIT ?",
        [agent, since, until, *params, limit],
    )
    return [(r["ts"], r["key"], r["value"]) for r in rows]


async def bucket_rows(
    db: Database,
    agent: str,
    since: float,
    until: float,
    width: float,
    keys: Collection[str] | None,
    reach: float,
    origin: float,
) -> list[tuple[str, int, Bucket]]:
    """(key, bucket index, aggregates) over raw rows and rollups; a bucket may come twice.

    Bucket i starts at origin + i * width. A rollup counts when it holds a point in the
    window; it starts at most `reach` (the widest rollup) before `since`.
    """
    where, params = _keys_clause(keys)
    rows = await db.fetchall(
        "SELECT key, CAST((ts - ?) / ? AS INTEGER) AS b, count(*) AS n, sum(value) AS s,"
        " min(value) AS lo, max(value) AS hi, max(ts) AS last"
        f" FROM stats WHERE agent = ? AND ts >= ? AND ts < ?{where} GROUP BY key, b"
        " UNION ALL"
        " SELECT key, CAST((max(start, ?) - ?) / ? AS INTEGER) AS b, sum(count), sum(sum),"
        " min(min), max(max), max(last_ts) FROM stats_rollup"
        f" WHERE agent = ? AND start >= ? AND start < ? AND last_ts >= ?{where} GROUP BY key, b",
        [
            *(origin, width, agent, since, until, *params),
            *(since, origin, width, agent, since - reach, until, since, *params),
        ],
    )
    return [(r["key"], r["b"], Bucket(r["n"], r["s"], r["lo"], r["hi"], r["last"])) for r in rows]


async def raw_values(
    db: Database, agent: str, key: str, since: float, until: float
) -> list[tuple[float, float]]:
    """(ts, value) of one key in [since, until), for percentiles."""
    rows = await db.fetchall(
        "SELECT ts, value FROM stats WHERE agent = ? AND key = ? AND ts >= ? AND ts < ?",
        (agent, key, since, until),
    )
    return [(r["ts"], r["value"]) for r in rows]


async def rollup_quantiles(
    db: Database, agent: str, key: str, since: float, until: float, reach: float
) -> list[tuple[float, Quantiles]]:
    """(start, quantiles) of one key's rollups holding a point in [since, until)."""
    rows = await db.fetchall(
        "SELECT max(start, ?) AS start, count, p50, p95 FROM stats_rollup"
        " WHERE agent = ? AND start >= ? AND start < ? AND last_ts >= ? AND key = ?",
        (since, agent, since - reach, until, since, key),
    )
    return [(r["start"], Quantiles(r["count"], r["p50"], r["p95"])) for r in rows]


async def latest(db: Database, agent: str, key: str, before: float) -> tuple[float, float] | None:
    """(ts, value) of `key`'s newest raw row before `before`, else its newest rollup's."""
    row = await db.fetchone(
        # The (agent, key, ts) index finds it at once; the planner may pick (agent, ts).
        "SELECT ts, value FROM stats INDEXED BY stats_agent WHERE agent = ? AND key = ?"
        " AND ts < ? ORDER BY ts DESC LIMIT 1",
        (agent, key, before),
    )
    if row is None:
        row = await db.fetchone(
            "SELECT last_ts AS ts, max AS value FROM stats_rollup"
            " WHERE agent = ? AND key = ? AND start < ? ORDER BY start DESC LIMIT 1",
            (agent, key, before),
        )
    return (row["ts"], row["value"]) if row else None


async def first_ts(db: Database, agent: str, since: float) -> float | None:
    """When `agent`'s oldest row at or after `since` was taken (raw or rolled up), or None."""
    row = await db.fetchone(
        "SELECT min(t) AS t FROM (SELECT min(ts) AS t FROM stats WHERE agent = ? AND ts >= ?"
        " UNION ALL SELECT min(start) FROM stats_rollup WHERE agent = ? AND last_ts >= ?)",
        (agent, since, agent, since),
    )
    return float(row["t"]) if row and row["t"] is not None else None


async def pending_approvals(db: Database) -> int:
    """The approval queue's length: approvals waiting for a decision."""
    row = await db.fetchone("SELECT count(*) AS n FROM approvals WHERE status = 'pending'")
    return int(row["n"]) if row else 0


async def oldest_raw(
    conn: aiosqlite.Connection, agent: str, before: float, limit: int
) -> list[tuple[int, StatRow]]:
    """(id, row) of `agent`'s oldest raw rows before `before`, at most `limit`."""
    cursor = await conn.execute(
        "SELECT id, ts, key, value FROM stats WHERE agent = ? AND ts < ? ORDER BY ts LIMIT ?",
        (agent, before, limit),
    )
    return [
        (r["id"], StatRow(agent, r["ts"], r["key"], r["value"])) for r in await cursor.fetchall()
    ]


async def store_rollups(conn: aiosqlite.Connection, rollups: Sequence[Rollup]) -> None:
    """Add rollups, merging into a stored one of the same bucket (quantiles: count-weighted)."""
    await conn.executemany(
        "INSERT INTO stats_rollup (agent, start, key, width, count, sum, min, max, last_ts, p50,"
        " p95) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (agent, start, key) DO UPDATE SET"
        " p50 = (p50 * count + excluded.p50 * excluded.count) / (count + excluded.count),"
        " p95 = (p95 * count + excluded.p95 * excluded.count) / (count + excluded.count),"
        " count = count + excluded.count, sum = sum + excluded.sum,"
        " min = min(min, excluded.min), max = max(max, excluded.max),"
        " last_ts = max(last_ts, excluded.last_ts), width = max(width, excluded.width)",
        [
            (
                r.agent,
                r.start,
                r.key,
                r.width,
                r.bucket.count,
                r.bucket.total,
                r.bucket.low,
                r.bucket.high,
                r.bucket.last_ts,
                r.quantiles.p50,
                r.quantiles.p95,
            )
            for r in rollups
        ],
    )


async def delete_raw(conn: aiosqlite.Connection, ids: Collection[int]) -> None:
    """Remove raw rows by id (once rolled up)."""
    await conn.executemany("DELETE FROM stats WHERE id = ?", [(i,) for i in ids])


async def take_narrow_rollups(
    conn: aiosqlite.Connection, agent: str, before: float, width: float
) -> list[Rollup]:
    """Remove `agent`'s rollups narrower than `width` that start before `before`, and return
    them merged into buckets of `width` (quantiles weighted by count), to be stored again."""
    where = "WHERE agent = ? AND width < ? AND start < ?"
    cursor = await conn.execute(
        "SELECT key, CAST(start / ? AS INTEGER) * ? AS bucket, sum(count) AS n, sum(sum) AS total,"
        " min(min) AS low, max(max) AS high, max(last_ts) AS last_ts,"
        " sum(p50 * count) / sum(count) AS p50, sum(p95 * count) / sum(count) AS p95"
        f" FROM stats_rollup {where} GROUP BY key, bucket",
        (width, width, agent, width, before),
    )
    merged = [
        Rollup(
            agent,
            r["key"],
            r["bucket"],
            width,
            Bucket(r["n"], r["total"], r["low"], r["high"], r["last_ts"]),
            Quantiles(r["n"], r["p50"], r["p95"]),
        )
        for r in await cursor.fetchall()
    ]
    await conn.execute(f"DELETE FROM stats_rollup {where}", (agent, width, before))
    return merged


async def expire_rollups(conn: aiosqlite.Connection, agent: str, before: float, limit: int) -> int:
    """Delete at most `limit` of `agent`'s rollups that start before `before`; how many went."""
    cursor = await conn.execute(
        "DELETE FROM stats_rollup WHERE agent = ? AND (start, key) IN"
        " (SELECT start, key FROM stats_rollup WHERE agent = ? AND start < ? LIMIT ?)",
        (agent, agent, before, limit),
    )
    return cursor.rowcount


async def with_raw_before(db: Database, agents: Sequence[str], before: float) -> list[str]:
    """Those of `agents` with raw rows before `before` (one query: an index seek each)."""
    return await _agents_where(
        db, agents, "(SELECT min(ts) FROM stats WHERE agent = j.value) < ?", before
    )


async def with_rollups_before(db: Database, agents: Sequence[str], before: float) -> list[str]:
    """Those of `agents` with rollups that start before `before` (an index seek each)."""
    return await _agents_where(
        db, agents, "(SELECT min(start) FROM stats_rollup WHERE agent = j.value) < ?", before
    )


async def with_narrow_rollups(
    db: Database, agents: Sequence[str], since: float, before: float, width: float
) -> list[str]:
    """Those of `agents` with rollups narrower than `width` starting in [since, before)."""
    return await _agents_where(
        db,
        agents,
        "EXISTS (SELECT 1 FROM stats_rollup WHERE agent = j.value AND start >= ? AND start < ?"
        " AND width < ?)",
        since,
        before,
        width,
    )


async def _agents_where(db: Database, agents: Sequence[str], test: str, *params: Any) -> list[str]:
    rows = await db.fetchall(
        f"SELECT j.value AS name FROM json_each(?) AS j WHERE {test}",
        (json.dumps(list(agents)), *params),
    )
    return [r["name"] for r in rows]


async def stats_agents(db: Database) -> list[str]:
    """Every agent's name (the hive-wide series is not among them)."""
    rows = await db.fetchall("SELECT name FROM agents ORDER BY name")
    return [r["name"] for r in rows]
