"""Agents as `hivectl agents` and the overview list them."""

from __future__ import annotations

from typing import Any

from gitops_hive import repos
from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.proposed_reads import read_proposed, unreadable_reason
from gitops_hive.approvals.rules import agent_status
from gitops_hive.context import HiveContext
from gitops_hive.errors import HiveError
from gitops_hive.overrides.effective import model_summary
from gitops_hive.records import ApprovalStatus
from gitops_hive.store import queries
from gitops_hive.telemetry.failing import failing_reason


async def agent_view(ctx: HiveContext, name: str) -> dict[str, Any]:
    """One agent as `agents --json` shows it."""
    record = await queries.get_agent(ctx.db, name)
    if record is None:
        raise HiveError(f"no agent {name}")
    deployed = await deployed_sha(ctx, name)
    try:
        proposed = await read_proposed(ctx, name, repos.read_head)
    except HiveError:
        proposed = None
    reason = unreadable_reason(ctx, name)
    approvals = await queries.list_approvals(ctx.db, agent=name)
    pending = next((a for a in approvals if a.status is ApprovalStatus.PENDING), None)
    runtime = ctx.runtime.status(name)
    failing = failing_reason(ctx, name)
    return {
        "name": name,
        "status": agent_status(
            deployed=deployed,
            has_pending=pending is not None,
            last_status=approvals[0].status if approvals else None,
            runtime_status=runtime.state.value,
            desired=record.desired,
            unreadable=reason is not None,
            failing=failing is not None,
        ),
        "reason": reason,  # why proposed/ cannot be read
        "failing": failing,  # why its turns fail
        "deployed": deployed,
        "proposed": proposed,
        **await model_summary(ctx, record, deployed),
        "pending": pending.id if pending else None,
        "auto_submit": record.auto_submit,
        "runtime": runtime.to_json(),
    }


async def agents_view(ctx: HiveContext) -> list[dict[str, Any]]:
    return [await agent_view(ctx, r.name) for r in await queries.list_agents(ctx.db)]
