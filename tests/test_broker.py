"""The broker on a real sqlite file: parking, waking, claiming, acknowledging, limits."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gitops_hive.errors import HiveError, LimitExceeded
from gitops_hive.messaging.broker import Broker, clamp_wait
from gitops_hive.protocol import MAX_WAIT_SECONDS
from gitops_hive.store import Database, queries


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    db = await Database.open(tmp_path / "hive.db")
    async with db.write() as conn:
        for name in ("worker", "manager"):
            await queries.insert_agent(conn, name)
    try:
        yield Broker(db, max_body_bytes=1024, max_inbox=5)
    finally:
        await db.close()


async def until_parked(broker: Broker, agent: str, count: int = 1) -> None:
    """Let the reader tasks run until `count` of them wait on the inbox."""
    while broker.parked(agent) < count:  # noqa: ASYNC110 - the broker's own state, no event
        await asyncio.sleep(0)


async def take(broker: Broker, agent: str, wait: float = 0) -> list[str]:
    async with broker.receive(agent, wait) as delivery:
        return [m.body for m in delivery.messages]


async def test_recv_returns_at_once_when_mail_waits(broker: Broker) -> None:
    await broker.send("manager", "worker", "first")
    await broker.send("manager", "worker", "second")
    assert await asyncio.wait_for(take(broker, "worker", 120), 10) == ["first", "second"]
    assert await take(broker, "worker") == []


async def test_a_parked_recv_wakes_when_a_message_lands(broker: Broker) -> None:
    parked = asyncio.create_task(take(broker, "worker", 30))
    await until_parked(broker, "worker")
    assert not parked.done()
    await broker.send("manager", "worker", "wake up")
    assert await asyncio.wait_for(parked, 10) == ["wake up"]
    assert broker.parked("worker") == 0


async def test_a_wait_runs_out_with_nothing(broker: Broker) -> None:
    async with broker.receive("worker", 0.05) as delivery:
        assert delivery.messages == [] and delivery.wait_seconds == 0.05


def test_waits_are_clamped_and_bad_ones_refused() -> None:
    assert clamp_wait(500) == (MAX_WAIT_SECONDS, True)
    assert clamp_wait(180) == (180.0, False)
    assert clamp_wait(0) == (0.0, False)
    for bad in (-1, math.nan, math.inf, "10", True, None):
        with pytest.raises(HiveError, match="wait_seconds"):
            clamp_wait(bad)


async def test_a_clamped_reply_says_so(broker: Broker) -> None:
    await broker.send("manager", "worker", "here")
    async with broker.receive("worker", 1000) as delivery:
        reply = delivery.to_json()
    assert reply["wait_seconds"] == MAX_WAIT_SECONDS and "clamped" in reply["note"]


async def test_a_reader_that_fails_before_replying_loses_nothing(broker: Broker) -> None:
    await broker.send("manager", "worker", "keep me")
    with pytest.raises(ConnectionResetError):
        async with broker.receive("worker", 0) as delivery:
            assert [m.body for m in delivery.messages] == ["keep me"]
            raise ConnectionResetError("the caller went away")
    assert await take(broker, "worker") == ["keep me"]
    assert await take(broker, "worker") == []


async def test_a_cancel_after_the_reply_still_marks_it_read(broker: Broker) -> None:
    await broker.send("manager", "worker", "once")
    entered = asyncio.Event()

    async def reader() -> None:
        async with broker.receive("worker", 0):
            entered.set()
        await asyncio.sleep(3600)  # never reached if the ack is awaited first

    task = asyncio.create_task(reader())
    await entered.wait()
    await asyncio.sleep(0)  # the ack is in flight now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await take(broker, "worker") == []


async def test_two_parked_readers_never_share_a_message(broker: Broker) -> None:
    readers = [asyncio.create_task(take(broker, "worker", 5)) for _ in range(2)]
    await until_parked(broker, "worker", 2)
    for i in range(4):
        await broker.send("manager", "worker", f"m{i}")
    got = await asyncio.wait_for(asyncio.gather(*readers), 10)
    rest = await take(broker, "worker")
    seen = [body for batch in got for body in batch] + rest
    assert sorted(seen) == ["m0", "m1", "m2", "m3"]


async def test_limits_say_what_to_do(broker: Broker) -> None:
    with pytest.raises(LimitExceeded, match="over the limit of 1024"):
        await broker.send("manager", "worker", "x" * 1025)
    for i in range(5):
        await broker.send("manager", "worker", f"{i}")
    with pytest.raises(LimitExceeded, match="inbox of worker is full"):
        await broker.send("manager", "worker", "one too many")
    assert len(await take(broker, "worker")) == 5
    await broker.send("manager", "worker", "room again")


async def test_peek_leaves_messages_unread(broker: Broker) -> None:
    await broker.send("operator", "worker", "look")
    peeked = await broker.peek("worker", 0)
    assert [m.body for m in peeked.messages] == ["look"]
    assert await take(broker, "worker") == ["look"]


async def test_close_releases_parked_readers(broker: Broker) -> None:
    parked = asyncio.create_task(take(broker, "worker", 120))
    await until_parked(broker, "worker")
    broker.close()
    assert await asyncio.wait_for(parked, 10) == []


async def test_many_parked_readers_take_each_message_exactly_once(tmp_path: Path) -> None:
    """Readers that take, acknowledge and park again while senders keep sending: a message a
    reader has just acknowledged is never handed to another from an older read."""
    db = await Database.open(tmp_path / "hive.db")
    async with db.write() as conn:
        await queries.insert_agent(conn, "worker")
    broker = Broker(db, max_body_bytes=1024, max_inbox=10_000)
    total, seen = 300, []

    async def reader() -> None:
        while len(seen) < total:
            async with broker.receive("worker", 0.5) as delivery:
                seen.extend(m.body for m in delivery.messages)
                await asyncio.sleep(0)  # the reply is being written

    async def sender(offset: int) -> None:
        for i in range(offset, total, 3):
            await broker.send("manager", "worker", f"m{i}")
            await asyncio.sleep(0)

    try:
        readers = [asyncio.create_task(reader()) for _ in range(6)]
        await asyncio.gather(*(sender(k) for k in range(3)))
        await asyncio.wait_for(asyncio.gather(*readers), 30)
    finally:
        await db.close()
    assert sorted(seen) == sorted(f"m{i}" for i in range(total))
