"""One rescan of an agent at a time: asks that arrive while one runs share one more run after
it, and learn its result or its failure."""

from __future__ import annotations

import asyncio

import pytest

from gitops_hive.bus import CoalescedRuns


class Counted:
    """A call that waits for `gate`, then answers how many times it ran."""

    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        await self.gate.wait()
        return self.runs


async def test_asks_during_a_run_share_one_more_run() -> None:
    runs, call = CoalescedRuns(), Counted()
    first = asyncio.create_task(runs.run("ada", call))
    await asyncio.sleep(0)
    followers = [asyncio.create_task(runs.run("ada", call)) for _ in range(3)]
    other = asyncio.create_task(runs.run("bob", Counted().__call__))  # another key: its own
    await asyncio.sleep(0)
    call.gate.set()
    assert await first == 2  # it ran again for the followers before it returned
    assert [await f for f in followers] == [2, 2, 2]
    assert call.runs == 2
    other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
    # Nothing running: the next ask runs at once.
    assert await runs.run("ada", call) == 3


async def test_a_failed_run_fails_those_waiting_for_the_next() -> None:
    runs = CoalescedRuns()
    gate = asyncio.Event()

    async def broken() -> int:
        await gate.wait()
        raise ValueError("repo unreadable")

    first = asyncio.create_task(runs.run("ada", broken))
    await asyncio.sleep(0)
    follower = asyncio.create_task(runs.run("ada", broken))
    await asyncio.sleep(0)
    gate.set()
    for task in (first, follower):
        with pytest.raises(ValueError, match="repo unreadable"):
            await task
    gate.clear()
    gate.set()
    with pytest.raises(ValueError):
        await runs.run("ada", broken)  # not stuck: runs again
