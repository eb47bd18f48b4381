"""Telemetry records: a stats row, a bucket's aggregates, a bucket's quantiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class StatRow(NamedTuple):
    """One stored figure: `key` of `agent` was `value` at `ts`."""

    agent: str
    ts: float
    key: str
    value: float


@dataclass(frozen=True)
class Bucket:
    """Aggregates of one key over one time bucket."""

    count: int
    total: float
    low: float
    high: float
    last_ts: float

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: Bucket) -> Bucket:
        return Bucket(
            self.count + other.count,
            self.total + other.total,
            min(self.low, other.low),
            max(self.high, other.high),
            max(self.last_ts, other.last_ts),
        )


@dataclass(frozen=True)
class Quantiles:
    """p50 and p95 of `count` values (exact for raw points, kept as such by a rollup)."""

    count: int
    p50: float
    p95: float


@dataclass(frozen=True)
class Rollup:
    """Raw rows of one key of one agent over [start, start + width), rolled into one."""

    agent: str
    key: str
    start: float
    width: float
    bucket: Bucket
    quantiles: Quantiles
