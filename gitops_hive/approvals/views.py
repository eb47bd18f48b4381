"""Read models of the review: pending approvals, an agent's history, one approval, its diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_hive import repos
from gitops_hive.agents import get_approval, require_agent
from gitops_hive.approvals.changes import spec_changes, spec_risks
from gitops_hive.approvals.denied import carried_denials
from gitops_hive.approvals.risks import network_review, network_warnings
from gitops_hive.context import HiveContext, blocking
from gitops_hive.diffs import ProposalDiff
from gitops_hive.errors import Conflict, HiveError
from gitops_hive.overrides.effective import model_change
from gitops_hive.records import ApprovalStatus
from gitops_hive.spec import SPEC_FILE, AgentSpec, validate_spec
from gitops_hive.store import queries

BASES = ("deployed", "approved", "previous")
MAX_COMMITS_SHOWN = 200  # past this the review says how many more there are


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


async def approval_view(ctx: HiveContext, approval_id: int) -> dict[str, Any]:
    """One approval with what the review shows on top: its commits and the model change."""
    approval = await get_approval(ctx, approval_id)
    change = await model_change(ctx, approval)
    applied = ctx.layout.agent(approval.agent).applied
    commits, total = await blocking(
        repos.list_commits, applied, approval.base, approval.head, MAX_COMMITS_SHOWN
    )
    before = await _spec_at(applied, approval.base)
    after = await _spec_at(applied, approval.head)
    prompt = (before[1], after[1])
    spec = after[0] if approval.valid else None
    network = None if spec is None else network_review(spec.network, ctx.config["runtime.kind"])
    network_risks = [] if spec is None else network_warnings(spec.network)
    return {
        **approval.to_json(),
        "log": approval.log,
        "model_change": change,
        "commits": [c.to_json() for c in commits],
        "commits_total": total,
        "changes": {"model": change, **spec_changes(before[0], after[0], prompt)},
        "risks": [r.to_json() for r in spec_risks(before[0], after[0])],
        "network": None if network is None else network.to_json(),
        "warnings": [
            *(w.to_json() for w in network_risks),
            *await carried_denials(ctx, approval),
        ],
    }


async def _spec_at(applied: Path, sha: str | None) -> tuple[AgentSpec | None, int | None]:
    """agent.toml (None if missing or invalid) and prompt.md's size at `sha` (None: no sha)."""
    if sha is None:
        return None, None
    text = await blocking(repos.read_blob, applied, sha, SPEC_FILE)
    prompt = await blocking(repos.read_blob, applied, sha, "prompt.md")
    spec = validate_spec(text.decode("utf-8", "replace"))[0] if text is not None else None
    return spec, len(prompt) if prompt is not None else 0


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
