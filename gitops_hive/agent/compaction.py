"""Notes compaction inside the agent: when /state/notes.md outgrows harness.notes_limit, a
short secondary session of the agent CLI rewrites it. The old file is kept under
notes-archive/, and the new one replaces it atomically, so a failure leaves it untouched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from gitops_hive.agent.reaping import end_process

log = logging.getLogger("gitops_hive.agent.harness")
NOTES_FILE = "notes.md"
ARCHIVE_DIR = "notes-archive"
COMPACT_TIMEOUT = 300.0
PROMPT = """You keep working notes in notes.md between turns; they have grown to {size} bytes.
Rewrite them to at most {limit} bytes: keep open tasks, decisions and their reasons, names,
shas and anything still in flight; drop what is done or repeated. Print only the new notes,
nothing else.

--- notes.md ---
{notes}"""


@dataclass(frozen=True)
class Compaction:
    """What one compaction did: sizes before and after, and where the old notes were kept."""

    compacted: bool
    before: int
    after: int
    kept: Path | None = None
    why: str = ""


def notes_size(state: Path) -> int:
    """Size of notes.md in bytes (0 when there is none)."""
    with contextlib.suppress(FileNotFoundError):
        return (state / NOTES_FILE).stat().st_size
    return 0


def compact_prompt(notes: str, limit: int) -> str:
    return PROMPT.format(size=len(notes.encode()), limit=limit, notes=notes)


def _keep(state: Path, old: bytes) -> Path:
    archive = state / ARCHIVE_DIR
    archive.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = archive / f"notes-{stamp}.md"
    n = 1
    while kept.exists():
        n += 1
        kept = archive / f"notes-{stamp}-{n}.md"
    kept.write_bytes(old)
    return kept


def swap_in(state: Path, old: bytes, new: bytes) -> Path:
    """Keep the old notes, then replace notes.md with `new` in one rename."""
    kept = _keep(state, old)
    staging = state / f".{NOTES_FILE}.compacting"
    staging.write_bytes(new)
    os.replace(staging, state / NOTES_FILE)
    return kept


async def compact(state: Path, argv: list[str], limit: int) -> Compaction:
    """Run the compaction session (`argv`, the prompt on stdin, new notes on stdout)."""
    path = state / NOTES_FILE
    old = path.read_bytes() if path.exists() else b""
    before = len(old)

    def unchanged(why: str) -> Compaction:
        log.warning("notes compaction skipped: %s; notes.md left as it was", why)
        return Compaction(False, before, before, why=why)

    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=state,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
    except OSError as exc:
        return unchanged(f"cannot run {argv[0]!r}: {exc.strerror}")
    prompt = compact_prompt(old.decode("utf-8", "replace"), limit).encode()
    try:
        async with asyncio.timeout(COMPACT_TIMEOUT):
            out, _ = await process.communicate(prompt)
    except TimeoutError:
        await end_process(process)
        return unchanged(f"the session ran over {COMPACT_TIMEOUT:.0f}s")
    except asyncio.CancelledError:
        await end_process(process)
        raise
    if process.returncode != 0:
        return unchanged(f"the session exited with status {process.returncode}")
    new = out.strip() + b"\n"
    if len(new) <= 1:
        return unchanged("the session printed nothing")
    if len(new) >= before:
        return unchanged(f"the rewrite ({len(new)} bytes) is no smaller")
    kept = swap_in(state, old, new)
    log.info("notes compacted: %d -> %d bytes; the old notes are in %s", before, len(new), kept)
    return Compaction(True, before, len(new), kept)
