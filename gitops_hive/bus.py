"""In-process publish/subscribe of what changed, for live pages and waiting clients."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")
QUEUE_SIZE = 1000
PROGRESS_LINES = 200  # of a build's output, for a page opened while it runs


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
    """One asyncio.Lock per key (agent name), kept only while someone holds or waits for it:
    a name may be whatever a caller sent (a push, a refused draft, a ping), and one never
    used again costs nothing."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


class CoalescedRuns:
    """At most one run per key (agent name) at a time: who asks while one runs waits for one
    more run after it, shared by everyone who asked meanwhile (three pings for one commit
    make two rescans, not three at once)."""

    def __init__(self) -> None:
        self._running: set[str] = set()
        self._next: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        if key in self._running:
            follower = self._next.get(key)
            if follower is None:
                follower = self._next[key] = asyncio.get_running_loop().create_future()
            return cast(T, await asyncio.shield(follower))
        self._running.add(key)
        try:
            result = await call()
            while (follower := self._next.pop(key, None)) is not None:
                try:
                    result = await call()
                except Exception as exc:
                    follower.set_exception(exc)
                    raise
                follower.set_result(result)
            return result
        except Exception as exc:  # who asked meanwhile learns it too
            waiting = self._next.pop(key, None)
            if waiting is not None:
                waiting.set_exception(exc)
            raise
        finally:
            self._running.discard(key)
            left = self._next.pop(key, None)
            if left is not None:
                left.cancel()  # the run was cancelled: so are its followers


class ProgressLines:
    """The last lines of each running build, by approval id, each published as it comes
    (kind `build`) so live pages and waiting clients show them."""

    def __init__(self, bus: EventBus, keep: int = PROGRESS_LINES) -> None:
        self.bus = bus
        self.keep = keep
        self._lines: dict[int, collections.deque[str]] = {}

    def reporter(self, approval_id: int, agent: str) -> Callable[[str], None]:
        """A callback taking one progress line of this approval's build."""
        lines = self._lines.setdefault(approval_id, collections.deque(maxlen=self.keep))

        def report(line: str) -> None:
            lines.append(line)
            self.bus.publish("build", id=approval_id, agent=agent, line=line)

        return report

    def lines(self, approval_id: int) -> list[str]:
        """The lines kept of this approval's build (none once it ended)."""
        return list(self._lines.get(approval_id, ()))

    def end(self, approval_id: int) -> None:
        self._lines.pop(approval_id, None)
