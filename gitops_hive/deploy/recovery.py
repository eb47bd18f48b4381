"""Converging after a restart: every agent at its desired state, interrupted builds resumed
(or superseded, when what runs moved on since they were approved)."""

from __future__ import annotations

import asyncio
import logging

from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.mirror import mirror_ref
from gitops_hive.approvals.rules import RESUMABLE
from gitops_hive.context import HiveContext
from gitops_hive.deploy.build import build, start_or_log
from gitops_hive.errors import HiveError
from gitops_hive.records import ApprovalStatus
from gitops_hive.store import queries

log = logging.getLogger(__name__)


async def recover(ctx: HiveContext) -> None:
    """At start: mirror decided approvals, run desired state, then finish interrupted builds.

    A build resumes through `build`, which supersedes it instead when the deployed commit is
    no longer its base: it never lands on top of a later deployment.
    """
    starts = []
    for record in await queries.list_agents(ctx.db):
        for approval in await queries.list_approvals(ctx.db, agent=record.name):
            if approval.status not in (
                *RESUMABLE,
                ApprovalStatus.PENDING,
                ApprovalStatus.SUPERSEDED,
            ):
                try:
                    await mirror_ref(ctx, approval)
                except HiveError as exc:  # one damaged repo must not stop the start
                    log.warning("agent %s: %s", record.name, exc.message)
        sha = await deployed_sha(ctx, record.name)
        if sha is not None and record.desired == "running":
            starts.append(start_or_log(ctx, record.name, sha))
    await asyncio.gather(*starts)
    # Oldest first: approvals were approved against the deployments in this order.
    for approval in sorted(
        await queries.list_approvals(ctx.db, statuses=RESUMABLE), key=lambda a: a.id
    ):
        ctx.spawn_task(build(ctx, approval.id))
