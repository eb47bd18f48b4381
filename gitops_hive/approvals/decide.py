"""The operator's decision: approve exactly the pinned head that was reviewed, or deny it."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, get_approval
from gitops_hive.approvals.mirror import mirror_decided
from gitops_hive.approvals.rules import (
    check_approvable,
    check_deny_reason,
    normalise_sha_argument,
)
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import Conflict
from gitops_hive.outcomes import Notice, Outcome, record_outcome
from gitops_hive.records import Approval, ApprovalStatus
from gitops_hive.store import Connection, queries


def notice_data(approval: Approval) -> dict[str, Any]:
    """What every decision notice to the manager carries about the approval."""
    return {
        "approval": approval.id,
        "agent": approval.agent,
        "kind": approval.kind.value,
        "head": approval.head,
    }


def how_to_drop(approval: Approval) -> str:
    """What the manager does so a later proposal does not bring the denied change back."""
    base = approval.base[:12] if approval.base else "the empty tree"
    return (
        f"To drop the change: revert its commits in {approval.agent}'s proposed/ "
        f"(git revert), or reset its main to the deployed commit ({base}) and commit anew; "
        "a proposal that still carries it is flagged to the operator"
    )


async def _full_sha(ctx: HiveContext, approval: Approval, sha: str) -> str:
    value = normalise_sha_argument(sha)
    if len(value) == 40 or not approval.head.startswith(value):
        return value
    applied = ctx.layout.agent(approval.agent).applied
    return await blocking(repos.match_prefix, applied, value)


async def mark_approved(ctx: HiveContext, approval_id: int, sha: str, who: str) -> None:
    """pending -> approved, exactly when `sha` is the pinned head; the build is the caller's."""
    approval = await get_approval(ctx, approval_id)
    full = await _full_sha(ctx, approval, sha)
    check_approvable(approval, full, await deployed_sha(ctx, approval.agent))

    async def approve_row(conn: Connection) -> None:
        won = await queries.transition(
            conn,
            approval_id,
            (ApprovalStatus.PENDING,),
            ApprovalStatus.APPROVED,
            decided_by=who,
            decided_at=time.time(),
        )
        if not won:
            raise Conflict(f"approval #{approval_id} was decided by someone else just now")

    await record_outcome(
        ctx,
        Outcome(
            agent=approval.agent,
            event="approval_approved",
            event_data={"id": approval_id, "head": approval.head, "by": who},
            topic="approval",
            published={"id": approval_id, "status": "approved"},
        ),
        steps=[approve_row],
    )


async def deny(ctx: HiveContext, approval_id: int, reason: str | None, who: str) -> Approval:
    """Refuse a pending approval with a reason; git keeps it as an annotated tag."""
    text = check_deny_reason(reason)
    approval = await get_approval(ctx, approval_id)

    async def deny_row(conn: Connection) -> None:
        if not await queries.transition(
            conn,
            approval_id,
            (ApprovalStatus.PENDING,),
            ApprovalStatus.DENIED,
            decided_by=who,
            decided_at=time.time(),
            reason=text,
        ):
            current = await get_approval(ctx, approval_id)
            raise Conflict(f"approval #{approval_id} is already {current.status.value}")

    await record_outcome(
        ctx,
        Outcome(
            agent=approval.agent,
            event="approval_denied",
            event_data={"id": approval_id, "reason": text, "by": who},
            notice=Notice(
                "approval_denied",
                f"Approval #{approval_id} for {approval.agent} was denied by {who}: {text}. "
                f"{how_to_drop(approval)}",
                {
                    **notice_data(approval),
                    "reason": text,
                    "by": who,
                    "how_to_drop": how_to_drop(approval),
                },
            ),
            topic="approval",
            published={"id": approval_id, "status": "denied"},
        ),
        steps=[deny_row],
        after_commit=[partial(mirror_decided, ctx, approval_id)],
    )
    return await get_approval(ctx, approval_id)
