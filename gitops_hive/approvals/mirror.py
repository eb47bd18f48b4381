"""Decided approvals mirrored as refs in applied.git, so git alone tells the history."""

from __future__ import annotations

from gitops_hive import repos
from gitops_hive.agents import get_approval
from gitops_hive.context import HiveContext, blocking
from gitops_hive.records import Approval, ApprovalStatus


async def mirror_ref(ctx: HiveContext, approval: Approval) -> None:
    """refs/hive/deployed|failed/ID at the head, refs/hive/denied/ID as a tag with the reason."""
    applied = ctx.layout.agent(approval.agent).applied
    if approval.status is ApprovalStatus.DEPLOYED:
        await blocking(
            repos.set_ref,
            applied,
            repos.deployed_ref(approval.id),
            approval.head,
            f"hive: deployed #{approval.id}",
        )
    elif approval.status is ApprovalStatus.FAILED:
        await blocking(
            repos.set_ref,
            applied,
            repos.failed_ref(approval.id),
            approval.head,
            f"hive: failed #{approval.id}",
        )
    elif approval.status is ApprovalStatus.DENIED:
        message = f"{approval.reason}\n\nDenied-by: {approval.decided_by}"
        await blocking(
            repos.write_tag_ref,
            applied,
            repos.denied_ref(approval.id),
            approval.head,
            f"denied-{approval.id}",
            message,
        )


def mirror_name(approval: Approval) -> str | None:
    """The ref that mirrors the approval once decided (None: not decided, nothing mirrored)."""
    names = {
        ApprovalStatus.DEPLOYED: repos.deployed_ref,
        ApprovalStatus.FAILED: repos.failed_ref,
        ApprovalStatus.DENIED: repos.denied_ref,
    }
    name = names.get(approval.status)
    return name(approval.id) if name else None


async def mirror_decided(ctx: HiveContext, approval_id: int) -> None:
    """Mirror the approval as it stands in the db now."""
    await mirror_ref(ctx, await get_approval(ctx, approval_id))
