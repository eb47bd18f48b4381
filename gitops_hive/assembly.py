"""The controller's parts opened in order (the db, the broker, the stats writer, the runtime,
the untrusted reads' pool, the context), each with its close registered as it opens."""

from __future__ import annotations

import contextlib

from gitops_hive import repos
from gitops_hive.config import HiveConfig
from gitops_hive.context import HiveContext
from gitops_hive.deploy import manager_view
from gitops_hive.layout import HiveLayout
from gitops_hive.messaging.broker import Broker
from gitops_hive.runtime.base import CrashHandler, CrashReport
from gitops_hive.runtime.registry import make_image_cache, make_runtime
from gitops_hive.store import Database
from gitops_hive.store.stats_writer import StatsWriter


async def open_context(
    stack: contextlib.AsyncExitStack,
    layout: HiveLayout,
    config: HiveConfig,
    crash_handlers: list[CrashHandler],
) -> HiveContext:
    """Open every part, registering how to close it on `stack` (undone if one fails); a
    crash the runtime reports goes to each of `crash_handlers`, as they are then."""
    db = await Database.open(layout.db)
    stack.push_async_callback(db.close)

    async def on_crash(report: CrashReport) -> None:
        for handler in crash_handlers:
            await handler(report)

    broker = Broker.from_config(db, config)
    writer = StatsWriter(db)
    writer.start()
    stack.push_async_callback(writer.close)
    runtime = make_runtime(config, on_crash)
    stack.push_async_callback(runtime.close)
    reads = repos.ReadPool(config["limits.read_timeout"])
    stack.callback(reads.close)
    ctx = HiveContext(
        layout=layout,
        config=config,
        db=db,
        runtime=runtime,
        broker=broker,
        stats=writer,
        reads=reads,
        images=make_image_cache(config, layout.images),
    )
    stack.push_async_callback(ctx.end_tasks)
    stack.push_async_callback(manager_view.close, ctx)
    writer.on_flush = lambda agents: ctx.bus.publish("stats", agents=sorted(agents))
    return ctx
