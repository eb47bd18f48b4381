"""Ending the agent CLI's process when the harness gives up on it: a timeout, or a stop."""

from __future__ import annotations

import asyncio
import contextlib


async def end_process(process: asyncio.subprocess.Process) -> None:
    """Kill a child the caller gives up on and reap it (it may have ended already)."""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
