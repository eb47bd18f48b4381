"""Reads of untrusted repos on a few threads of their own, each within a time limit.

The confined walk never opens a FIFO or a device, so a read should never hang; this is the
backstop if one does. A read runs on one of `workers` daemon threads, never the default
executor, so a hang cannot starve the controller's other blocking work. A read that runs
past `timeout` is answered at once with RepoUnreadable and its thread is abandoned (never
waited for, not even at exit): a new thread takes its place, and until the hung read ends
every later read of that same repo is refused at once instead of hanging another thread.
At most `max_hung` threads are ever abandoned; past that, reads are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gitops_hive.errors import RepoUnreadable
from gitops_hive.repos.failures import repo_label

T = TypeVar("T")
WORKERS = 4
MAX_HUNG = 32
ADVICE = "look for a file there that blocks (a FIFO, a device) and remove it"


@dataclass
class _Job:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    started: asyncio.Event = field(default_factory=asyncio.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    finished: bool = False
    dropped: bool = False  # the caller gave up before it started
    abandoned: bool = False  # it ran past the limit; its thread leaves when it ends


class ReadPool:
    """Untrusted reads on daemon threads of their own, each awaited within `timeout`."""

    def __init__(self, timeout: float, workers: int = WORKERS, max_hung: int = MAX_HUNG) -> None:
        self.timeout = timeout
        self.max_hung = max_hung
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._hung: dict[Path, int] = {}  # repo -> reads of it still running past the limit
        self._hung_total = 0
        self._lock = threading.Lock()
        self._live = 0
        self._closed = False
        for _ in range(workers):
            self._add_worker()

    def _add_worker(self) -> None:
        self._live += 1
        threading.Thread(target=self._work, name="hive-untrusted-read", daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with job.lock:
                if job.dropped:
                    continue
                job.running = True
            _tell(job.loop, job.started.set)
            try:
                result, error = job.func(*job.args), None
            except BaseException as exc:  # handed to the caller as it is
                result, error = None, exc
            with job.lock:
                job.finished = True
                abandoned = job.abandoned
            _tell(job.loop, _settle, job.future, result, error)
            if abandoned:
                self._ended_hung(job.args[0])
                return  # a new worker took this one's place

    def _ended_hung(self, repo: Path) -> None:
        with self._lock:
            self._hung_total -= 1
            self._hung[repo] -= 1
            if not self._hung[repo]:
                del self._hung[repo]

    async def run(self, func: Callable[..., T], repo: Path, *args: Any) -> T:
        """`func(repo, *args)` on a reading thread; RepoUnreadable if it runs past the limit,
        or at once while an earlier read of `repo` still hangs."""
        with self._lock:
            refusal = None
            if self._closed:
                refusal = "the hive is stopping"
            elif repo in self._hung:
                refusal = f"an earlier read of it has not ended after {self.timeout:g}s"
            elif self._hung_total >= self.max_hung:
                refusal = f"{self._hung_total} reads of untrusted repos hang"
            if refusal is not None:
                raise RepoUnreadable(f"{repo_label(repo)}: cannot read it: {refusal}; {ADVICE}")
        loop = asyncio.get_running_loop()
        job = _Job(func, (repo, *args), loop, loop.create_future())
        self._jobs.put(job)
        try:
            await job.started.wait()  # no limit while queued: hung workers are replaced
            async with asyncio.timeout(self.timeout):
                result: T = await asyncio.shield(job.future)
            return result
        except TimeoutError:
            with job.lock:
                job.abandoned = not job.finished
            if not job.abandoned:  # it ended just as the limit passed: its answer stands
                late: T = await job.future
                return late
            job.future.cancel()  # nobody waits for it any more
            self._abandon(repo)
            raise RepoUnreadable(
                f"{repo_label(repo)}: cannot read it within {self.timeout:g}s; {ADVICE}"
            ) from None
        except asyncio.CancelledError:
            with job.lock:
                job.dropped = not job.running
            job.future.cancel()
            raise

    def _abandon(self, repo: Path) -> None:
        with self._lock:
            self._hung[repo] = self._hung.get(repo, 0) + 1
            self._hung_total += 1
            self._live -= 1
            if not self._closed:
                self._add_worker()

    def close(self) -> None:
        """Let the idle threads end; a hung one is left behind (it is a daemon)."""
        with self._lock:
            self._closed = True
            for _ in range(self._live):
                self._jobs.put(None)


def _tell(loop: asyncio.AbstractEventLoop, func: Callable[..., None], *args: Any) -> None:
    """Run `func` on the loop, unless the loop is gone (a read outlived the controller)."""
    with contextlib.suppress(RuntimeError):  # "Event loop is closed"
        loop.call_soon_threadsafe(func, *args)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
