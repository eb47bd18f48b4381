"""Converging after a restart: every agent at its desired state, interrupted builds resumed
(or superseded, when what runs moved on since they were approved)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from gitops_hive import repos
from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.mirror import mirror_name, mirror_ref
from gitops_hive.approvals.rules import RESUMABLE
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy.build import build, start_or_log
from gitops_hive.errors import HiveError
from gitops_hive.records import Approval
from gitops_hive.store import queries

log = logging.getLogger(__name__)
AGENTS_AT_ONCE = 8  # agents whose repos are read at once
# Agents started at once: each waits out its start grace, so enough to overlap those, few
# enough that a thousand agents' starts leave the API (already answering) threads and CPU.
STARTS_AT_ONCE = 16


async def converge(ctx: HiveContext, rescan: Callable[[str], Awaitable[object]]) -> None:
    """After a restart: `recover`, then `rescan` every agent's proposed/, several at once (a
    commit may have landed while the controller was down)."""
    await recover(ctx)
    at_once = asyncio.Semaphore(AGENTS_AT_ONCE)

    async def one(name: str) -> None:
        async with at_once:
            await rescan(name)

    await asyncio.gather(*(one(record.name) for record in await queries.list_agents(ctx.db)))


async def recover(ctx: HiveContext) -> None:
    """At start: mirror decided approvals, run desired state, then finish interrupted builds.

    Agents are taken several at a time, each under its build lock (the API already answers,
    so an operator's stop or approve may come first: the agent's record is read under it).
    A build resumes through `build`, which supersedes it instead when the deployed commit is
    no longer its base: it never lands on top of a later deployment.
    """
    decided: defaultdict[str, list[Approval]] = defaultdict(list)
    for approval in await queries.list_approvals(ctx.db):
        if mirror_name(approval) is not None:
            decided[approval.agent].append(approval)
    at_once = asyncio.Semaphore(AGENTS_AT_ONCE)
    starts = asyncio.Semaphore(STARTS_AT_ONCE)

    async def converge(name: str) -> None:
        async with at_once:
            await _mirror_missing(ctx, name, decided[name])
        async with starts, ctx.build_locks(name):
            record = await queries.get_agent(ctx.db, name)
            sha = await deployed_sha(ctx, name)
            if record is not None and sha is not None and record.desired == "running":
                await start_or_log(ctx, name, sha)

    await asyncio.gather(*(converge(r.name) for r in await queries.list_agents(ctx.db)))
    # Oldest first: approvals were approved against the deployments in this order.
    for approval in sorted(
        await queries.list_approvals(ctx.db, statuses=RESUMABLE), key=lambda a: a.id
    ):
        ctx.spawn_task(build(ctx, approval.id))


async def _mirror_missing(ctx: HiveContext, name: str, decided: list[Approval]) -> None:
    """Mirror the decided approvals whose ref is missing (a crash between the db and git)."""
    if not decided:
        return
    try:
        mirrored = await blocking(repos.ref_names, ctx.layout.agent(name).applied, "refs/hive/")
        for approval in decided:
            if mirror_name(approval) not in mirrored:
                await mirror_ref(ctx, approval)
    except HiveError as exc:  # one damaged repo must not stop the start
        log.warning("agent %s: %s", name, exc.message)
