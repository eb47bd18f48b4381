"""One aiosqlite connection in WAL, a migrations registry, and one write path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

# A transaction handed to domain code by Database.write(); only store/ looks inside it.
Connection = aiosqlite.Connection

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        created REAL NOT NULL,
        auto_submit INTEGER NOT NULL DEFAULT 1,
        desired TEXT NOT NULL DEFAULT 'running'
    );
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL REFERENCES agents(name),
        kind TEXT NOT NULL,
        head TEXT NOT NULL,
        base TEXT,
        status TEXT NOT NULL,
        valid INTEGER NOT NULL,
        errors TEXT NOT NULL DEFAULT '[]',
        created REAL NOT NULL,
        source TEXT NOT NULL,
        rewrites_history INTEGER NOT NULL DEFAULT 0,
        summary TEXT NOT NULL DEFAULT '',
        decided_by TEXT,
        decided_at REAL,
        reason TEXT,
        log TEXT
    );
    CREATE INDEX approvals_agent ON approvals(agent, id);
    CREATE INDEX approvals_status ON approvals(status);
    CREATE UNIQUE INDEX approvals_one_open ON approvals(agent)
        WHERE status = 'pending';
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL REFERENCES agents(name),
        approval_id INTEGER NOT NULL UNIQUE REFERENCES approvals(id),
        sha TEXT NOT NULL,
        previous TEXT,
        deployed_at REAL NOT NULL
    );
    CREATE INDEX deployments_agent ON deployments(agent, id);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        agent TEXT,
        kind TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_agent ON events(agent, id);
    """,
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient TEXT NOT NULL REFERENCES agents(name),
        sender TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX messages_inbox ON messages(recipient, id) WHERE delivered_at IS NULL;
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        asker TEXT NOT NULL,
        question TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '[]',
        created REAL NOT NULL,
        answer TEXT,
        answered_by TEXT,
        answered_at REAL
    );
    CREATE INDEX questions_open ON questions(id) WHERE answered_at IS NULL;
    CREATE TABLE stats (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        ts REAL NOT NULL,
        key TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX stats_agent ON stats(agent, key, ts);
    """,
    """
    CREATE TABLE uid_bases (
        agent TEXT PRIMARY KEY REFERENCES agents(name),
        base INTEGER NOT NULL UNIQUE
    );
    """,
    """
    ALTER TABLE approvals ADD COLUMN model_note TEXT;
    ALTER TABLE agents ADD COLUMN last_turn_model TEXT;
    ALTER TABLE agents ADD COLUMN last_turn_at REAL;
    """,
    # Telemetry: one agent's window of every key (covering: no table lookups), and the
    # rolled-up past.
    """
    CREATE INDEX stats_agent_ts ON stats(agent, ts, key, value);
    CREATE TABLE stats_rollup (
        agent TEXT NOT NULL,
        start REAL NOT NULL,
        key TEXT NOT NULL,
        width REAL NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        last_ts REAL NOT NULL,
        p50 REAL NOT NULL,
        p95 REAL NOT NULL,
        PRIMARY KEY (agent, start, key)
    ) WITHOUT ROWID;
    """,
    # Dashboard sessions: only a hash of each cookie, the token it was issued under, expiry.
    """
    CREATE TABLE sessions (
        hash TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # Each agent's last event of some kinds (its failing status, restored at start).
    """
    CREATE INDEX events_kind ON events(kind, agent, id);
    """,
    # An agent's approvals of one head (a rescan asks for the last of them).
    """
    CREATE INDEX approvals_head ON approvals(agent, head, id);
    """,
)


class Database:
    """The hive's sqlite file: reads anywhere, writes one transaction at a time."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._conn = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @staticmethod
    async def _connect(path: Path) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating and migrating if need be) the hive database, readable by us alone."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # sqlite gives its -wal and -shm files the db's mode
        finally:
            os.close(fd)
        writer = await cls._connect(path)
        db = cls(writer, writer)
        await db._migrate()
        db._reader = await cls._connect(path)
        return db

    async def close(self) -> None:
        if self._reader is not self._conn:
            await self._reader.close()
        await self._conn.close()

    async def _migrate(self) -> None:
        async with self.write() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied REAL)"
            )
            cursor = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations")
            row = await cursor.fetchone()
            current = int(row[0]) if row else 0
            for version, script in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO migrations (version, applied) VALUES (?, ?)",
                    (version, time.time()),
                )

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A BEGIN IMMEDIATE transaction, committed on success and rolled back on error."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def fetchall_latest(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Read on the writer's connection, between write transactions: sees every commit made
        before it, never one in flight (the reader connection may hold an older snapshot)."""
        async with self._write_lock:
            cursor = await self._conn.execute(sql, tuple(params))
            return list(await cursor.fetchall())

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Read committed rows (a separate connection: never sees a write in flight)."""
        # Run and read in one call on the reader's thread: a statement left open between two
        # awaits holds its snapshot, and another coroutine's read run meanwhile would get
        # that older snapshot, missing what was committed since.
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
