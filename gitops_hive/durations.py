"""Durations and points in time as people write them: "90s", "15m", "1h30m", "7d", a timestamp."""

from __future__ import annotations

import math
import re
from datetime import datetime

from gitops_hive.errors import HiveError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
# A bare number at least this large is a unix timestamp, not seconds ago (2001-09-09).
TIMESTAMP_FLOOR = 1e9


def parse_duration(text: str) -> float:
    """Seconds in "90", "90s", "15m", "1h30m", "2d" or "1w"; HiveError when it is none of those."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        if not _WHOLE.fullmatch(raw):
            raise HiveError(
                f"{text!r} is not a duration: write seconds or a number with a unit "
                "(s, m, h, d, w), e.g. 90s, 15m, 1h30m, 7d"
            ) from None
        seconds = sum(float(n) * UNITS[u] for n, u in _PART.findall(raw))
    if not math.isfinite(seconds) or seconds <= 0:
        raise HiveError(f"{text!r} is not a duration above zero")
    return seconds


def parse_instant(text: str, now: float) -> float:
    """A point in time: a unix timestamp, an ISO 8601 time, or a duration meaning that long ago."""
    raw = text.strip()
    try:
        number = float(raw)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise HiveError(f"{text!r} is not a time")
        return number if number >= TIMESTAMP_FLOOR else now - parse_duration(raw)
    if raw and raw[0].isdigit() and ("-" in raw or "T" in raw):
        try:
            return datetime.fromisoformat(raw).timestamp()
        except ValueError:
            raise HiveError(f"{text!r} is not an ISO 8601 time") from None
    return now - parse_duration(raw)


def format_duration(seconds: float) -> str:
    """A short human duration: "42 s", "3 min", "2.5 h", "4 d"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} d".replace(".0 d", " d")
