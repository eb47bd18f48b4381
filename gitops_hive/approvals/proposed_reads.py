"""Reading an agent's proposed/ repo: in the untrusted reads' pool, within the time limit, and
what a repo that cannot be read tells the operator (the agent's status) and the manager (one
notice per episode, remembered across restarts by the events table)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from gitops_hive.context import HiveContext
from gitops_hive.errors import LimitExceeded, RepoUnreadable
from gitops_hive.outcomes import Notice, Outcome, record_outcome
from gitops_hive.store import queries

T = TypeVar("T")
UNREADABLE = "agent_unreadable"  # the event and the notice's kind
READABLE = "agent_readable"
EVENTS_LOOKED_AT = 100  # an agent's newest events searched for the last of the two


async def read_proposed(ctx: HiveContext, name: str, func: Callable[..., T], *args: Any) -> T:
    """`func(the agent's proposed/.git, *args)` in the pool; a repo it cannot read (damaged,
    hostile, too slow, an object over its limit) makes the agent unreadable."""
    try:
        return await ctx.reads.run(func, ctx.layout.agent(name).proposed_git, *args)
    except (RepoUnreadable, LimitExceeded) as exc:
        await mark_unreadable(ctx, name, exc.message)
        raise


def unreadable_reason(ctx: HiveContext, name: str) -> str | None:
    """Why the agent's proposed/ could not be read the last time, or None."""
    return ctx.repo_problems.get(name)


async def _told_before(ctx: HiveContext, name: str) -> bool:
    """Whether the last of the agent's unreadable and readable events says unreadable (what
    a controller that restarted knows of what it told the manager)."""
    for event in await queries.list_events(ctx.db, agent=name, limit=EVENTS_LOOKED_AT):
        if event.kind in (UNREADABLE, READABLE):
            return event.kind == UNREADABLE
    return False


async def mark_unreadable(ctx: HiveContext, name: str, reason: str) -> None:
    """Show the agent unreadable; the first time in a row, record it and tell the manager."""
    known = name in ctx.repo_problems
    before = ctx.repo_problems.get(name)
    ctx.repo_problems[name] = reason  # set before any await: a second failure sees it
    if before is not None or (not known and await _told_before(ctx, name)):
        if before != reason:
            ctx.bus.publish("agent", agent=name, unreadable=reason)
        return
    body = (
        f"Agent {name}'s proposed/ repo cannot be read: {reason}. The hive reads nothing "
        "more of it until it is fixed."
    )
    await record_outcome(
        ctx,
        Outcome(
            agent=name,
            event=UNREADABLE,
            event_data={"agent": name, "reason": reason},
            notice=Notice(UNREADABLE, body, {"agent": name, "reason": reason}),
            published={"unreadable": reason},
            log_level=logging.WARNING,
            log_line=f"agent {name}: proposed/ is unreadable: {reason}",
        ),
    )


async def readable_again(ctx: HiveContext, name: str) -> None:
    """The agent's proposed/ read whole again: clear its status and record that it did."""
    known = name in ctx.repo_problems
    before = ctx.repo_problems.get(name)
    ctx.repo_problems[name] = None
    if before is None and (known or not await _told_before(ctx, name)):
        return
    await record_outcome(
        ctx,
        Outcome(
            agent=name,
            event=READABLE,
            event_data={"agent": name},
            published={"unreadable": None},
            log_line=f"agent {name}: proposed/ reads again",
        ),
    )
