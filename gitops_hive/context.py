"""What every controller operation works with, built once by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gitops_hive.bus import CoalescedRuns, EventBus, KeyedLocks, ProgressLines
from gitops_hive.config import HiveConfig
from gitops_hive.layout import HiveLayout
from gitops_hive.messaging.broker import Broker
from gitops_hive.repos import ReadPool, RefStamp
from gitops_hive.runtime.agents_view import AgentsView
from gitops_hive.runtime.base import Runtime
from gitops_hive.runtime.images import ImageCache
from gitops_hive.store import Database
from gitops_hive.store.stats_writer import StatsWriter
from gitops_hive.validation import Limits

T = TypeVar("T")


@dataclass
class HiveContext:
    """Layout, config, store, runtime, broker, stats writer, the pool untrusted reads run
    in, agent images, and the per-agent locks."""

    layout: HiveLayout
    config: HiveConfig
    db: Database
    runtime: Runtime
    broker: Broker
    stats: StatsWriter
    reads: ReadPool
    images: ImageCache | None = None  # agent images, for a runtime that builds them
    bus: EventBus = field(default_factory=EventBus)
    progress: ProgressLines = field(init=False)
    submit_locks: KeyedLocks = field(default_factory=KeyedLocks)
    rescans: CoalescedRuns = field(default_factory=CoalescedRuns)  # one per agent at a time
    build_locks: KeyedLocks = field(default_factory=KeyedLocks)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    on_agent_added: Callable[[str], None] = lambda name: None
    # The most agents the controller's open-files limit has room for (None: not checked).
    max_agents: int | None = None
    # Why each agent's proposed/ cannot be read (None: it reads); absent: not read yet.
    repo_problems: dict[str, str | None] = field(default_factory=dict)
    # Each agent's proposed/ ref files as its last finished rescan saw them.
    rescanned: dict[str, RefStamp] = field(default_factory=dict)
    # Why each agent's turns fail, from its last TurnEnd (absent: the last one ended well).
    turn_problems: dict[str, str] = field(default_factory=dict)
    # The manager's live /agents (private users only), laid out when its container launches.
    agents_view: AgentsView | None = None

    def __post_init__(self) -> None:
        self.progress = ProgressLines(self.bus)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_file_bytes=self.config["limits.max_file_bytes"],
            max_tree_bytes=self.config["limits.max_tree_bytes"],
            max_files=self.config["limits.max_files"],
            max_depth=self.config["limits.max_depth"],
        )

    async def end_tasks(self) -> None:
        """Cancel the background work the operations started (builds, health gates)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def spawn_task(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run work in the background, keeping a reference until it ends."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


async def blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking (pygit2, filesystem) call off the event loop."""
    return await asyncio.to_thread(func, *args)
