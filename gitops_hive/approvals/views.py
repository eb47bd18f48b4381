"""Read models of the review: pending approvals, an agent's history, one approval, its diff."""

from __future__ import annotations

from typing import Any

from gitops_hive import repos
from gitops_hive.agents import get_approval, require_agent
from gitops_hive.approvals.risks import network_review, network_warnings
from gitops_hive.context import HiveContext, blocking
from gitops_hive.diffs import ProposalDiff
from gitops_hive.errors import Conflict, HiveError
from gitops_hive.overrides.effective import model_change
from gitops_hive.records import Approval, ApprovalStatus
from gitops_hive.spec import SPEC_FILE, AgentSpec, validate_spec
from gitops_hive.store import queries

BASES = ("deployed", "approved", "previous")


async def pending_view(ctx: HiveContext) -> list[dict[str, Any]]:
    approvals = await queries.list_approvals(ctx.db, statuses=(ApprovalStatus.PENDING,))
    return [
        {**a.to_json(), "model_change": await model_change(ctx, a)}
        for a in sorted(approvals, key=lambda a: a.id)
    ]


async def history_view(ctx: HiveContext, raw_name: str) -> list[dict[str, Any]]:
    """Every approval of an agent, newest first."""
    name = await require_agent(ctx, raw_name)
    return [a.to_json() for a in await queries.list_approvals(ctx.db, agent=name)]


async def pinned_spec(ctx: HiveContext, approval: Approval) -> AgentSpec | None:
    """The head's agent.toml, when the head passed validation (else its errors say enough)."""
    if not approval.valid:
        return None
    applied = ctx.layout.agent(approval.agent).applied
    try:
        raw = await blocking(repos.read_blob, applied, approval.head, SPEC_FILE)
    except HiveError:
        return None
    spec, _ = validate_spec(raw.decode("utf-8", "replace")) if raw is not None else (None, [])
    return spec


async def approval_view(ctx: HiveContext, approval_id: int) -> dict[str, Any]:
    approval = await get_approval(ctx, approval_id)
    change = await model_change(ctx, approval)
    spec = await pinned_spec(ctx, approval)
    network = None if spec is None else network_review(spec.network, ctx.config["runtime.kind"])
    warnings = [] if spec is None else network_warnings(spec.network)
    return {
        **approval.to_json(),
        "log": approval.log,
        "model_change": change,
        "network": None if network is None else network.to_json(),
        "warnings": [w.to_json() for w in warnings],
    }


async def resolve_base(ctx: HiveContext, approval_id: int, base: str) -> str | None:
    """The commit a reviewer compares against: deployed, last approved, or previous proposal."""
    if base not in BASES:
        raise HiveError(f"unknown base {base!r}: use one of {', '.join(BASES)}")
    approval = await get_approval(ctx, approval_id)
    if base == "deployed":
        return approval.base
    earlier = [
        a for a in await queries.list_approvals(ctx.db, agent=approval.agent) if a.id < approval_id
    ]
    if base == "approved":
        wanted = (ApprovalStatus.APPROVED, ApprovalStatus.BUILDING, ApprovalStatus.DEPLOYED)
        found = next((a for a in earlier if a.status in wanted), None)
    else:
        found = earlier[0] if earlier else None
    if found is None:
        raise Conflict(f"approval #{approval_id} has no {base} proposal before it")
    return found.head


async def diff_view(ctx: HiveContext, approval_id: int, base: str = "deployed") -> ProposalDiff:
    approval = await get_approval(ctx, approval_id)
    base_sha = await resolve_base(ctx, approval_id, base)
    applied = ctx.layout.agent(approval.agent).applied
    return await blocking(repos.diff_commits, applied, base_sha, approval.head)
