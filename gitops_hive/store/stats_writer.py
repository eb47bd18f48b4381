"""The batching writer of stats rows: few short transactions, so approvals never wait long."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from gitops_hive.records import StatRow
from gitops_hive.store import Database
from gitops_hive.store import stats as store

log = logging.getLogger(__name__)
FLUSH_INTERVAL = 0.5  # seconds a row may wait for company
FLUSH_ROWS = 500  # a batch this large is written at once
MAX_PENDING = 100_000  # beyond this, rows are dropped (and counted) rather than kept in memory


class StatsWriter:
    """Rows go into a buffer; a background task writes them every FLUSH_INTERVAL or FLUSH_ROWS."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = FLUSH_INTERVAL,
        batch: int = FLUSH_ROWS,
        on_flush: Callable[[set[str]], None] = lambda agents: None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.batch = batch
        self.on_flush = on_flush
        self.dropped = 0
        self._pending: list[StatRow] = []
        self._has_rows = asyncio.Event()
        self._full = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def add(self, agent: str, ts: float, values: Mapping[str, float]) -> None:
        """Queue one row per key; never blocks, never touches the database."""
        if len(self._pending) + len(values) > MAX_PENDING:
            self.dropped += len(values)
            log.warning("stats buffer full: %d row(s) of %s dropped", len(values), agent)
            return
        self._pending.extend(StatRow(agent, ts, key, float(v)) for key, v in values.items())
        self._has_rows.set()
        if len(self._pending) >= self.batch:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Start the background flushing."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stats-writer")

    async def _run(self) -> None:
        while not self._closing:
            await self._has_rows.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._full.wait()
            try:
                await self.flush()
            except Exception:
                log.exception("stats rows could not be written; they are dropped")

    async def flush(self) -> int:
        """Write everything queued so far in one transaction; how many rows were written."""
        async with self._write_lock:
            rows, self._pending = self._pending, []
            self._has_rows.clear()
            self._full.clear()
            if not rows:
                return 0
            async with self.db.write() as conn:
                await store.insert_rows(conn, rows)
        self.on_flush({row.agent for row in rows})
        return len(rows)

    async def close(self) -> None:
        """Let the task finish its batch, then write what is still queued."""
        self._closing = True
        self._has_rows.set()
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
