"""Inboxes in sqlite: send, a recv that parks until a message lands, delivery acknowledged,
unread messages handed back."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from gitops_hive.config import HiveConfig
from gitops_hive.errors import HiveError, LimitExceeded
from gitops_hive.protocol import MAX_WAIT_SECONDS
from gitops_hive.records import Message
from gitops_hive.store import Connection, Database, inbox

RECV_BATCH = 50


@dataclass(frozen=True)
class Delivery:
    """What one recv hands over: the messages and the wait it actually used."""

    messages: list[Message]
    wait_seconds: float
    clamped: bool

    def to_json(self) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "messages": [m.to_json() for m in self.messages],
            "wait_seconds": self.wait_seconds,
        }
        if self.clamped:
            reply["note"] = f"wait_seconds was clamped to {MAX_WAIT_SECONDS:g} (the most allowed)"
        return reply


def clamp_wait(raw: Any) -> tuple[float, bool]:
    """A recv wait in seconds, capped at MAX_WAIT_SECONDS; (wait, whether it was clamped)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise HiveError(f"wait_seconds must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}")
    if raw < 0:
        raise HiveError(f"wait_seconds must not be negative (got {raw}); use 0 to not wait")
    if raw > MAX_WAIT_SECONDS:
        return MAX_WAIT_SECONDS, True
    return float(raw), False


class Broker:
    """Messages between agents, the operator and the hive, with instant wake-ups."""

    def __init__(self, db: Database, *, max_body_bytes: int, max_inbox: int) -> None:
        self.db = db
        self.max_body_bytes = max_body_bytes
        self.max_inbox = max_inbox
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._claimed: set[int] = set()
        self._closing = False
        # Told the name of every inbox that changed (telemetry samples its depth).
        self.on_wake: list[Callable[[str], None]] = []

    @classmethod
    def from_config(cls, db: Database, config: HiveConfig) -> Broker:
        """A broker with hive.toml's message size and inbox depth limits."""
        return cls(
            db,
            max_body_bytes=config["limits.message_bytes"],
            max_inbox=config["limits.inbox_depth"],
        )

    def close(self) -> None:
        """Release every parked recv with what it has (nothing): the controller is stopping."""
        self._closing = True
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def post(
        self,
        conn: Connection,
        sender: str,
        recipient: str,
        body: str,
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> Message:
        """Queue a message inside the caller's transaction; call wake() after it commits."""
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > self.max_body_bytes:
            raise LimitExceeded(
                f"message body is {size} bytes, over the limit of {self.max_body_bytes}; "
                "send less (put long text in a file in your repo and send its path)"
            )
        depth = await inbox.inbox_depth(conn, recipient)
        if depth >= self.max_inbox:
            raise LimitExceeded(
                f"the inbox of {recipient} is full ({depth} unread messages); "
                "wait for it to catch up before sending more"
            )
        return await inbox.insert_message(conn, recipient, sender, kind, body, data or {})

    async def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> Message:
        """Store a message durably, then wake whoever waits on that inbox."""
        async with self.db.write() as conn:
            message = await self.post(conn, sender, recipient, body, kind, data)
        self.wake(recipient)
        return message

    def wake(self, recipient: str) -> None:
        """Wake every recv parked on `recipient`'s inbox."""
        for event in self._waiters.get(recipient, ()):
            event.set()
        for callback in self.on_wake:
            callback(recipient)

    def parked(self, recipient: str) -> int:
        """How many recv calls wait on `recipient` right now."""
        return len(self._waiters.get(recipient, ()))

    async def _wait_for_mail(self, agent: str, wait: float, *, claimable: bool) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        event = asyncio.Event()
        self._waiters[agent].add(event)
        try:
            while True:
                event.clear()
                skip = self._claimed if claimable else ()
                found = await inbox.undelivered(self.db, agent, RECV_BATCH, skip)
                if claimable:
                    # Claimed at once, with no await between the filter and the claim.
                    found = [m for m in found if m.id not in self._claimed]
                    self._claimed.update(m.id for m in found)
                remaining = deadline - loop.time()
                if found or remaining <= 0 or self._closing:
                    return found
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
        finally:
            self._waiters[agent].discard(event)
            if not self._waiters[agent]:
                del self._waiters[agent]

    async def _mark_delivered(self, ids: list[int]) -> None:
        async with self.db.write() as conn:
            await inbox.mark_delivered(conn, ids)

    @contextlib.asynccontextmanager
    async def receive(self, agent: str, wait_seconds: Any) -> AsyncIterator[Delivery]:
        """Take the oldest messages, parking up to the wait for one to land.

        The messages count as delivered only when the body of the `async with` ends without
        an error, so a caller that vanished before its reply was written loses nothing.
        """
        wait, clamped = clamp_wait(wait_seconds)
        messages = await self._wait_for_mail(agent, wait, claimable=True)  # claims them
        ids = [m.id for m in messages]
        try:
            yield Delivery(messages, wait, clamped)
            if ids:
                # The reply is out: record it even if the caller hangs up right now.
                ack = asyncio.ensure_future(self._mark_delivered(ids))
                try:
                    await asyncio.shield(ack)
                except asyncio.CancelledError:
                    await ack
                    raise
        finally:
            self._claimed.difference_update(ids)
            if ids:
                self.wake(agent)  # messages handed back: another parked recv may take them

    async def hand_back(self, agent: str, ids: list[int], within: float) -> int:
        """Messages `agent` received in the last `within` seconds but never read (its agent
        CLI failed before it could) back in its inbox, in their order; returns how many."""
        if not ids:
            return 0
        async with self.db.write() as conn:
            count = await inbox.mark_undelivered(conn, agent, ids, time.time() - within)
        if count:
            self.wake(agent)
        return count

    async def peek(self, agent: str, wait_seconds: Any) -> Delivery:
        """The undelivered messages, left in place (the operator's view of an inbox)."""
        wait, clamped = clamp_wait(wait_seconds)
        return Delivery(await self._wait_for_mail(agent, wait, claimable=False), wait, clamped)
