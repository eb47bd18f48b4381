"""The approval state machine and the submission rule, as pure functions."""

from __future__ import annotations

import re

from gitops_hive.errors import Conflict, HiveError, InvalidProposal
from gitops_hive.records import Approval, ApprovalStatus

HEX = re.compile(r"[0-9a-f]{7,40}")

RESUMABLE = (ApprovalStatus.APPROVED, ApprovalStatus.BUILDING)


def normalise_sha_argument(sha: str) -> str:
    """Lower-case and check that a reviewer's sha is 7 to 40 hex digits."""
    value = sha.strip().lower()
    if not HEX.fullmatch(value):
        raise HiveError(f"--sha {sha!r} is not a commit sha: give 7 to 40 hex digits")
    return value


def check_approvable(approval: Approval, sha: str, deployed: str | None) -> None:
    """Refuse unless the approval is pending, valid, and `sha` names its pinned head."""
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(f"approval #{approval.id} is already {approval.status.value}")
    if not approval.valid:
        first = "invalid"
        if approval.errors:
            error = approval.errors[0]
            where = str(error.get("file", "")) + (f":{error['line']}" if error.get("line") else "")
            key = f" {error['key']}:" if error.get("key") else ""
            more = f" and {len(approval.errors) - 1} more" if len(approval.errors) > 1 else ""
            first = f"{where}{key} {error['message']}{more}"
        raise InvalidProposal(
            f"approval #{approval.id} is invalid ({first}); fix it in proposed/ and commit"
        )
    if not HEX.fullmatch(sha) or not approval.head.startswith(sha):
        raise Conflict(
            f"sha {sha} is not the pinned head of approval #{approval.id} "
            f"({approval.head}); review the diff again"
        )
    if approval.base != deployed:
        raise Conflict(
            f"{approval.agent}'s deployed commit changed since approval #{approval.id} was "
            "submitted; submit again to review against it"
        )


def base_moved(approval: Approval, deployed: str | None) -> bool:
    """Whether the deployed commit is no longer the one the approval was reviewed against
    (nor its head, where a build stopped after moving main leaves it): building it now would
    replace what was deployed since, unreviewed against it."""
    return deployed not in (approval.base, approval.head)


def check_deny_reason(reason: str | None) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise HiveError("deny needs a reason: --reason TEXT (it reaches the manager)")
    if len(cleaned) > 4000:
        raise HiveError("the reason is over 4000 characters; shorten it")
    return cleaned


def should_auto_submit(
    *,
    head: str | None,
    deployed: str | None,
    auto_submit: bool,
    has_history: bool,
    pending_head: str | None,
    last_for_head: ApprovalStatus | None,
    note_changed: bool = False,
) -> bool:
    """Whether the ref watcher submits proposed/ main by itself.

    `note_changed`: the manager's model note on `head` differs from the one pinned by the
    last submission of `head` (a note alone, even on the running commit, asks for review).
    """
    if head is None or not auto_submit or not has_history:
        return False
    if note_changed:
        return True
    if head in (deployed, pending_head):
        return False
    # The operator already refused this exact commit, or it is on its way.
    return last_for_head not in (
        ApprovalStatus.DENIED,
        ApprovalStatus.FAILED,
        ApprovalStatus.APPROVED,
        ApprovalStatus.BUILDING,
    )


# Every status `agent_status` gives, in the order the overview counts them.
AGENT_STATUSES = (
    "running",
    "pending",
    "stopped",
    "crashed",
    "failed",
    "unreadable",
    "draft",
    "failing",
)


def agent_status(
    *,
    deployed: str | None,
    has_pending: bool,
    last_status: ApprovalStatus | None,
    runtime_status: str,
    desired: str,
    unreadable: bool = False,
    failing: bool = False,
) -> str:
    """One of AGENT_STATUSES. unreadable: proposed/ cannot be read (whatever runs keeps
    running); failing: it runs, but its last turn failed."""
    if unreadable:
        return "unreadable"
    if deployed is None:
        if has_pending or last_status in (ApprovalStatus.APPROVED, ApprovalStatus.BUILDING):
            return "pending"
        return "failed" if last_status is ApprovalStatus.FAILED else "draft"
    if desired == "stopped":
        return "stopped"
    if runtime_status == "running":
        return "failing" if failing else "running"
    return "crashed" if runtime_status == "crashed" else "stopped"
