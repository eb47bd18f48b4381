"""applied.git's ref writes, counted in this process (its only writer): a listing knows an
applied.git has not moved since it read it without a stat of its ref files."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_TICKS = itertools.count(1)
_LAST_WRITE: dict[str, int] = {}  # applied.git folder -> the tick of its last ref write


def ref_written(repo_path: Path | str) -> None:
    """Note that a ref of the repo at `repo_path` was just written (after the write: a reader
    that took the old tick reads again next time)."""
    _LAST_WRITE[os.fspath(repo_path)] = next(_TICKS)  # one store: safe across threads


def last_ref_write(repo_path: Path | str) -> int:
    """The tick of the last ref write to `repo_path` in this process, 0 if none: take it
    before reading the refs, and what was read stays true while it is unchanged."""
    return _LAST_WRITE.get(os.fspath(repo_path), 0)
