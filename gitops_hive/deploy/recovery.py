"""Converging after a restart: every agent at its desired state, interrupted builds resumed."""

from __future__ import annotations

import asyncio

from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.mirror import mirror_ref
from gitops_hive.approvals.rules import RESUMABLE
from gitops_hive.context import HiveContext
from gitops_hive.deploy.build import build, start_or_log
from gitops_hive.records import ApprovalStatus
from gitops_hive.store import queries


async def recover(ctx: HiveContext) -> None:
    """At start: mirror decided approvals, run desired state, then finish interrupted builds."""
    starts = []
    for record in await queries.list_agents(ctx.db):
        for approval in await queries.list_approvals(ctx.db, agent=record.name):
            if approval.status not in (
                *RESUMABLE,
                ApprovalStatus.PENDING,
                ApprovalStatus.SUPERSEDED,
            ):
                await mirror_ref(ctx, approval)
        sha = await deployed_sha(ctx, record.name)
        if sha is not None and record.desired == "running":
            starts.append(start_or_log(ctx, record.name, sha))
    await asyncio.gather(*starts)
    for approval in await queries.list_approvals(ctx.db, statuses=RESUMABLE):
        ctx.spawn_task(build(ctx, approval.id))
