"""The one place that records what happened: the db rows, the event and the manager's notice
in one transaction; then the manager woken, the after-commit work (a mirror ref), the pages'
update and the log line, in that order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops_hive.context import HiveContext
from gitops_hive.messaging.notices import notify_manager, wake_manager
from gitops_hive.store import Connection, queries

log = logging.getLogger(__name__)

# A write inside the outcome's transaction; raising rolls the whole outcome back.
Step = Callable[[Connection], Awaitable[None]]
# Work after the commit and before the pages hear of it (a mirror ref in git).
AfterCommit = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Notice:
    """A machine-readable message to the manager's inbox (kind, text, data)."""

    kind: str
    body: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What happened to an agent, as the events table, the manager and the pages hear it."""

    agent: str
    event: str
    event_data: dict[str, Any]
    notice: Notice | None = None
    topic: str = "agent"  # the bus topic the pages listen to
    published: dict[str, Any] = field(default_factory=dict)
    log_level: int = logging.INFO
    log_line: str = ""


async def record_outcome(
    ctx: HiveContext,
    outcome: Outcome,
    steps: Sequence[Step] = (),
    after_commit: Sequence[AfterCommit] = (),
) -> None:
    """Run `steps`, record the event and queue the notice in one transaction, then wake the
    manager, run `after_commit`, publish to the pages and log."""
    async with ctx.db.write() as conn:
        for step in steps:
            await step(conn)
        await queries.insert_event(conn, outcome.event, outcome.agent, outcome.event_data)
        if outcome.notice is not None:
            notice = outcome.notice
            await notify_manager(ctx, conn, notice.kind, notice.body, notice.data)
    if outcome.notice is not None:
        wake_manager(ctx)
    for work in after_commit:
        await work()
    ctx.bus.publish(outcome.topic, agent=outcome.agent, **outcome.published)
    if outcome.log_line:
        log.log(outcome.log_level, "%s", outcome.log_line)
