"""Retention: raw stats rows past telemetry.raw_retention become per-bucket rollups, which
coarsen as they age (hourly after a day, daily after a week) until rollup_retention drops them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from gitops_hive.config import HiveConfig
from gitops_hive.records import Bucket, Rollup, StatRow
from gitops_hive.store import Database
from gitops_hive.store import stats as store
from gitops_hive.telemetry.series import HIVE_SERIES, quantiles

log = logging.getLogger(__name__)
BATCH_ROWS = 2000  # one write transaction handles at most this many raw rows
FIRST_RUN = 10.0  # seconds after start: a controller that was down catches up soon
DAY = 86400.0
# (age, width): a rollup that started longer than `age` ago is merged into its bucket of
# `width`. Charts of old days need no 5-minute points, and the file stops growing with them.
COARSER = ((DAY, 3600.0), (7 * DAY, DAY))


def widest_rollup(width: float) -> float:
    """The widest a rollup gets (how far before a window a rollup in it may start)."""
    return max([width, *(wide for _, wide in COARSER)])


def roll_up(rows: Sequence[StatRow], width: float) -> list[Rollup]:
    """Group raw rows by (agent, key, bucket of `width` from the epoch) into rollups."""
    groups: defaultdict[tuple[str, str, float], list[StatRow]] = defaultdict(list)
    for row in rows:
        groups[(row.agent, row.key, math.floor(row.ts / width) * width)].append(row)
    rollups = []
    for (agent, key, start), members in sorted(groups.items()):
        values = [r.value for r in members]
        bucket = Bucket(
            len(values), sum(values), min(values), max(values), max(r.ts for r in members)
        )
        rollups.append(Rollup(agent, key, start, width, bucket, quantiles(values)))
    return rollups


@dataclass(frozen=True)
class Outcome:
    """What one retention pass did."""

    rolled_up: int
    rollups_expired: int
    coarsened: int = 0  # rollups merged into wider ones


class Retention:
    """Rolls up old raw rows in bounded batches, and drops rollups past their own retention."""

    def __init__(
        self,
        db: Database,
        *,
        raw_retention: float,
        rollup_retention: float,
        width: float,
        every: float,
        batch: int = BATCH_ROWS,
        coarser: Sequence[tuple[float, float]] = COARSER,
    ) -> None:
        self.db = db
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention
        self.width = width
        self.every = every
        self.batch = batch
        self.coarser = [(age, wide) for age, wide in coarser if wide > width]
        self._coarsened_to: dict[float, float] = {}  # width -> merged up to here (every agent)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, db: Database, config: HiveConfig, every: float) -> Retention:
        """The retention hive.toml's [telemetry] asks for, a pass every `every` seconds."""
        return cls(
            db,
            raw_retention=config["telemetry.raw_retention"],
            rollup_retention=config["telemetry.rollup_retention"],
            width=config["telemetry.rollup_bucket"],
            every=every,
        )

    def cutoff(self, now: float) -> float:
        """Raw rows before this go: raw_retention ago, down to a whole bucket."""
        return math.floor((now - self.raw_retention) / self.width) * self.width

    async def run_once(self, now: float | None = None) -> Outcome:
        """One pass: only the agents that have something to roll up, coarsen or expire (found
        by a query each), each batch its own short transaction."""
        now = time.time() if now is None else now
        agents = [*await store.stats_agents(self.db), HIVE_SERIES]
        rolled_agents = await store.with_raw_before(self.db, agents, self.cutoff(now))
        rolled = 0
        for agent in rolled_agents:
            rolled += await self._roll_up(agent, now)
        coarsened = 0
        for age, wide in self.coarser:
            before = math.floor((now - age) / wide) * wide  # whole buckets only
            # Rollups are born narrow (any agent rolled up now) or age into the tier.
            since = self._coarsened_to.get(wide, -math.inf)
            aged = await store.with_narrow_rollups(self.db, agents, since, before, wide)
            for agent in sorted({*rolled_agents, *aged}):
                coarsened += await self._coarsen(agent, before, wide)
            self._coarsened_to[wide] = max(before, since)
        expired = 0
        expiry = now - self.rollup_retention
        for agent in await store.with_rollups_before(self.db, agents, expiry):
            expired += await self._expire(agent, expiry)
        return Outcome(rolled, expired, coarsened)

    async def _roll_up(self, agent: str, now: float) -> int:
        rolled = 0
        while True:
            async with self.db.write() as conn:
                found = await store.oldest_raw(conn, agent, self.cutoff(now), self.batch)
                await store.store_rollups(conn, roll_up([row for _, row in found], self.width))
                await store.delete_raw(conn, [i for i, _ in found])
            rolled += len(found)
            await asyncio.sleep(0)  # let other writers in between batches
            if len(found) < self.batch:
                return rolled

    async def _coarsen(self, agent: str, before: float, wide: float) -> int:
        """Merge `agent`'s rollups before `before` into buckets of `wide`, in one transaction."""
        async with self.db.write() as conn:
            rollups = await store.take_narrow_rollups(conn, agent, before, wide)
            await store.store_rollups(conn, rollups)
        await asyncio.sleep(0)
        return len(rollups)

    async def _expire(self, agent: str, before: float) -> int:
        expired = 0
        while True:
            async with self.db.write() as conn:
                gone = await store.expire_rollups(conn, agent, before, self.batch)
            expired += gone
            await asyncio.sleep(0)
            if gone < self.batch:
                return expired

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stats-retention")

    async def _run(self) -> None:
        await asyncio.sleep(FIRST_RUN)
        while True:
            try:
                outcome = await self.run_once()
                if outcome.rolled_up or outcome.rollups_expired or outcome.coarsened:
                    log.info(
                        "telemetry: %d raw row(s) rolled up, %d rollup(s) coarsened into"
                        " wider ones, %d expired",
                        outcome.rolled_up,
                        outcome.coarsened,
                        outcome.rollups_expired,
                    )
            except Exception:
                log.exception("telemetry retention pass failed")
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
