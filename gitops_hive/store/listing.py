"""The reads an agent listing makes for every agent at once: a few queries, not one per agent."""

from __future__ import annotations

from dataclasses import dataclass

from gitops_hive.records import ApprovalStatus
from gitops_hive.store.db import Database


@dataclass(frozen=True)
class ApprovalFacts:
    """What a listing shows of an agent's approvals: the pending one, the newest's status."""

    pending: int | None
    last_status: ApprovalStatus | None


async def approval_facts(db: Database) -> dict[str, ApprovalFacts]:
    """Every agent's ApprovalFacts (agents without approvals are left out)."""
    newest = await db.fetchall(
        "SELECT agent, status FROM approvals"
        " WHERE id IN (SELECT max(id) FROM approvals GROUP BY agent)"
    )
    pending = await db.fetchall("SELECT agent, id FROM approvals WHERE status = 'pending'")
    pending_ids = {str(row["agent"]): int(row["id"]) for row in pending}
    return {
        str(row["agent"]): ApprovalFacts(
            pending_ids.get(str(row["agent"])), ApprovalStatus(row["status"])
        )
        for row in newest
    }
