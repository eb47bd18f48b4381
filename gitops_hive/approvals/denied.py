"""Denied work that comes back: a proposal whose range carries a commit (or the same change
under another sha) of an approval the operator denied, or grants again what that approval
asked for (a tool, a package, a variable, however it was committed: squashed into other
work too), is named on the review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_hive import repos
from gitops_hive.approvals.changes import spec_additions
from gitops_hive.approvals.pinned_specs import spec_at
from gitops_hive.context import HiveContext, blocking
from gitops_hive.records import Approval, ApprovalStatus
from gitops_hive.store import queries

MAX_RANGE = 500  # commits of a range compared; past this a denied head in the range still counts
MAX_DENIED = 50  # the most recent denials an agent's proposal is checked against


async def carried_denials(ctx: HiveContext, approval: Approval) -> list[dict[str, Any]]:
    """Warnings `carries_denied` for each denied approval whose change this one brings back."""
    denied = [
        a
        for a in await queries.list_approvals(ctx.db, agent=approval.agent)
        if a.status is ApprovalStatus.DENIED and a.id != approval.id
    ][:MAX_DENIED]
    if not denied:
        return []
    applied = ctx.layout.agent(approval.agent).applied
    mine = await blocking(
        repos.range_fingerprints, applied, approval.base, approval.head, MAX_RANGE
    )
    patches = {p for p in mine.values() if p}
    grants = await _grants(applied, approval)
    warnings = []
    for refused in denied:
        theirs = await blocking(
            repos.range_fingerprints, applied, refused.base, refused.head, MAX_RANGE
        )
        shared = (set(theirs) & set(mine)) or {s for s, p in theirs.items() if p and p in patches}
        if not shared and await _brings_back(applied, approval, refused.head):
            shared = {refused.head}  # past the commits compared, but in this range all the same
        again = sorted(grants & await _grants(applied, refused))
        if shared or again:
            what = f"{len(shared)} of its commits or the same changes" if shared else ""
            what += ("; " if what else "") + ", ".join(again)
            warnings.append(
                {
                    "code": "carries_denied",
                    "approval": refused.id,
                    "reason": refused.reason,
                    "commits": sorted(shared),
                    "grants": again,
                    "message": f"carries work denied in #{refused.id} ({refused.reason}): {what}",
                }
            )
    return warnings


async def _brings_back(applied: Path, approval: Approval, denied_head: str) -> bool:
    """Whether the denied head is in this proposal's history and not already deployed."""
    if not await blocking(repos.is_ancestor, applied, denied_head, approval.head):
        return False
    base = approval.base
    return base is None or not await blocking(repos.is_ancestor, applied, denied_head, base)


async def _grants(applied: Path, approval: Approval) -> set[str]:
    """What the approval's agent.toml grants that its base did not."""
    before = (await spec_at(applied, approval.base))[0]
    return spec_additions(before, (await spec_at(applied, approval.head))[0])
