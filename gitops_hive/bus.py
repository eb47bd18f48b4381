"""In-process publish/subscribe of what changed, for live pages and waiting clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

QUEUE_SIZE = 1000


class EventBus:
    """Fan-out of small change notices; a slow subscriber loses notices, never blocks others."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback` with every notice, synchronously (it must not block)."""
        self._listeners.append(callback)

    def publish(self, kind: str, **data: Any) -> None:
        notice = {"kind": kind, **data}
        for callback in self._listeners:
            callback(notice)
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(notice)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


class KeyedLocks:
    """One asyncio.Lock per key (agent name), made on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())
