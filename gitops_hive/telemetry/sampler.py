"""What the harness cannot report: inbox depths and the approval queue, sampled here."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gitops_hive.store import Database, inbox
from gitops_hive.store import stats as store
from gitops_hive.store.stats_writer import StatsWriter
from gitops_hive.telemetry.series import HIVE_SERIES

log = logging.getLogger(__name__)
COALESCE = 0.2  # seconds: a burst of sends is sampled once


class StatsSampler:
    """Samples an inbox when it changes, the queue when an approval moves, all each interval."""

    def __init__(self, db: Database, writer: StatsWriter, *, interval: float) -> None:
        self.db = db
        self.writer = writer
        self.interval = interval
        self._inboxes: set[str] = set()
        self._approvals = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def inbox_changed(self, agent: str) -> None:
        """A message landed in, or left, `agent`'s inbox."""
        self._inboxes.add(agent)
        self._wake.set()

    def on_notice(self, notice: dict[str, Any]) -> None:
        """A bus notice: an approval that moved changes the queue."""
        if notice.get("kind") == "approval":
            self._approvals = True
            self._wake.set()

    async def sample(self, everything: bool = False) -> None:
        """Queue the samples asked for since the last call (every agent's, with `everything`)."""
        inboxes, self._inboxes = self._inboxes, set()
        approvals, self._approvals = self._approvals or everything, False
        if everything:
            inboxes.update(await store.stats_agents(self.db))
        now = time.time()
        if inboxes:
            depths = await inbox.inbox_depths(self.db)
            for agent in sorted(inboxes):
                self.writer.add(agent, now, {"inbox_depth": depths.get(agent, 0)})
        if approvals:
            queue = await store.pending_approvals(self.db)
            self.writer.add(HIVE_SERIES, now, {"approval_queue": queue})

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stats-sampler")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            everything = False
            try:
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                everything = True
                due = loop.time() + self.interval
            if self._closing:
                return
            self._wake.clear()
            try:
                await self.sample(everything)
            except Exception:
                log.exception("telemetry sampling failed")
            if not self._closing:
                await asyncio.sleep(COALESCE)

    async def close(self) -> None:
        """Stop sampling. A flag, not a cancel: wait_for may swallow a cancel (Python 3.11)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
