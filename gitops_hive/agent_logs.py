"""An agent's run/agent.log read from its end: the last lines, or what came after an offset,
never more than a bounded read however large the agent made the file."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitops_hive.errors import HiveError

MAX_LINES = 10_000  # the most lines one read answers
READ_BYTES = 1024 * 1024  # the most of the file one read looks at
LINE_CHARS = 8_000  # a longer line is cut, an ellipsis where it was
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class LogRead:
    """Lines of the log, the offset to read on from, and what was passed over."""

    lines: list[str]
    offset: int  # bytes: where the next read starts
    size: int
    exists: bool
    skipped: int = 0  # bytes passed over: more came than one read looks at
    restarted: bool = False  # the file is shorter than the offset asked: it was started anew

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _cut(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _read(fd: int, start: int, count: int) -> bytes:
    chunks, left = [], count
    while left > 0:
        chunk = os.pread(fd, left, start + count - left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _tail(fd: int, size: int, lines: int) -> LogRead:
    start = max(0, size - READ_BYTES)
    data = _read(fd, start, size - start)
    parts = data.split(b"\n")
    if start > 0:
        parts = parts[1:]  # the first is a piece of a line that began before the read
    if parts and parts[-1] == b"":
        parts.pop()
    return LogRead([_cut(p) for p in parts[-lines:]], start + len(data), size, True, start)


def _after(fd: int, size: int, since: int) -> LogRead:
    restarted = since > size
    start = 0 if restarted else since
    skipped = max(0, size - start - READ_BYTES)
    data = _read(fd, start + skipped, min(size - start, READ_BYTES))
    parts = data.split(b"\n")
    if skipped:
        parts = parts[1:]
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) == READ_BYTES:  # one line longer than a read: show its start
        end = len(data)
        parts = [data, b""]
    offset = start + skipped + end
    return LogRead([_cut(p) for p in parts[:-1]], offset, size, True, skipped, restarted)


def read_log(path: Path, lines: int, since: int | None) -> LogRead:
    """The last `lines` lines of the log at `path`, or (with `since`) the whole lines after
    byte `since`; a missing log reads as none. A link or special file there is refused."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return LogRead([], 0, 0, False)
    except OSError as exc:
        raise HiveError(f"{path.name} cannot be read ({exc.strerror}): remove it") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HiveError(f"{path} is not a plain file; refusing to read it: remove it")
        return _tail(fd, info.st_size, lines) if since is None else _after(fd, info.st_size, since)
    finally:
        os.close(fd)


def check_lines(lines: int) -> int:
    """`lines` when it is a count one read answers, else the one-line refusal."""
    if not 1 <= lines <= MAX_LINES:
        raise HiveError(f"lines must be 1 to {MAX_LINES}, not {lines}: pass -n N in that range")
    return lines
