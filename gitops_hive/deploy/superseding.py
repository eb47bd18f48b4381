"""An approved build whose base is no longer deployed: it ends superseded, never built over
what runs now."""

from __future__ import annotations

import logging

from gitops_hive.approvals.decide import notice_data
from gitops_hive.context import HiveContext
from gitops_hive.errors import Conflict
from gitops_hive.outcomes import Notice, Outcome, record_outcome
from gitops_hive.records import Approval, ApprovalStatus
from gitops_hive.store import Connection, queries


def stale_reason(approval: Approval, deployed: str | None) -> str:
    """Why the approval was not built, and what to do, in one line."""
    base = approval.base[:12] if approval.base else "nothing"
    now = deployed[:12] if deployed else "nothing"
    return (
        f"not built: it was reviewed against {base}, but {approval.agent} now runs {now}; "
        "submit it again to review it against what runs"
    )


async def record_superseded(ctx: HiveContext, approval: Approval, deployed: str | None) -> None:
    """building -> superseded with the reason; the manager hears it, the agent is not touched."""
    reason = stale_reason(approval, deployed)

    async def superseded_row(conn: Connection) -> None:
        won = await queries.transition(
            conn,
            approval.id,
            (ApprovalStatus.BUILDING,),
            ApprovalStatus.SUPERSEDED,
            reason=reason,
        )
        if not won:
            raise Conflict(f"approval #{approval.id} is no longer building")

    await record_outcome(
        ctx,
        Outcome(
            agent=approval.agent,
            event="approval_superseded",
            event_data={"id": approval.id, "head": approval.head, "deployed": deployed},
            notice=Notice(
                "approval_superseded",
                f"Approval #{approval.id} for {approval.agent} was {reason}.",
                {**notice_data(approval), "reason": reason, "deployed": deployed},
            ),
            topic="approval",
            published={"id": approval.id, "status": "superseded"},
            log_level=logging.WARNING,
            log_line=f"agent {approval.agent}: approval #{approval.id} {reason}",
        ),
        steps=[superseded_row],
    )
