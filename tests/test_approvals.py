"""The approval state machine and its rules, as the pure functions they are."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from gitops_hive.approvals.rules import (
    RESUMABLE,
    agent_status,
    check_approvable,
    check_deny_reason,
    normalise_sha_argument,
    should_auto_submit,
)
from gitops_hive.errors import Conflict, HiveError, InvalidProposal
from gitops_hive.records import TRANSITIONS, Approval, ApprovalKind, ApprovalStatus, can_move

S = ApprovalStatus
HEAD = hashlib.sha1(b"head").hexdigest()
BASE = hashlib.sha1(b"base").hexdigest()
OTHER = hashlib.sha1(b"other").hexdigest()

# The lifecycle in docs/architecture.md, edge by edge.
DOCUMENTED_EDGES = {
    (S.PENDING, S.APPROVED),
    (S.PENDING, S.DENIED),
    (S.PENDING, S.SUPERSEDED),
    (S.APPROVED, S.BUILDING),
    (S.BUILDING, S.DEPLOYED),
    (S.BUILDING, S.FAILED),
    (S.BUILDING, S.SUPERSEDED),
}


def approval(**changes: Any) -> Approval:
    base = Approval(
        id=7,
        agent="worker",
        kind=ApprovalKind.APPLY,
        head=HEAD,
        base=BASE,
        status=S.PENDING,
        valid=True,
        errors=[],
        created=0.0,
        source="test",
    )
    return dataclasses.replace(base, **changes)


# TRANSITIONS and can_move


def test_transitions_cover_every_status() -> None:
    assert set(TRANSITIONS) == set(ApprovalStatus)


def test_transitions_are_exactly_the_documented_lifecycle() -> None:
    edges = {(old, new) for old, targets in TRANSITIONS.items() for new in targets}
    assert edges == DOCUMENTED_EDGES


@pytest.mark.parametrize("old", list(ApprovalStatus))
@pytest.mark.parametrize("new", list(ApprovalStatus))
def test_can_move_agrees_with_the_table(old: ApprovalStatus, new: ApprovalStatus) -> None:
    assert can_move(old, new) is ((old, new) in DOCUMENTED_EDGES)


def test_decided_states_are_final_and_no_state_loops_to_itself() -> None:
    final = {s for s, targets in TRANSITIONS.items() if not targets}
    assert final == {S.DEPLOYED, S.FAILED, S.DENIED, S.SUPERSEDED}
    assert all(s not in TRANSITIONS[s] for s in ApprovalStatus)


def test_every_state_is_reachable_from_pending() -> None:
    seen, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(ApprovalStatus)


def test_resumable_states_are_the_ones_between_approve_and_a_result() -> None:
    assert set(RESUMABLE) == {S.APPROVED, S.BUILDING}
    for status in RESUMABLE:
        assert TRANSITIONS[status]


# normalise_sha_argument


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (HEAD[:7], HEAD[:7]),
        (HEAD, HEAD),
        (HEAD.upper(), HEAD),
        (f"  {HEAD[:12]}\n", HEAD[:12]),
        ("ABCDEF0", "abcdef0"),
    ],
)
def test_shas_of_7_to_40_hex_digits_are_normalised(given: str, expected: str) -> None:
    assert normalise_sha_argument(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "      ", HEAD[:6], "abc", HEAD + "0", "g" * 7, "abcdef-", "main", "HEAD~1", "abc def0"],
)
def test_anything_else_is_refused_naming_the_argument(given: str) -> None:
    with pytest.raises(HiveError) as caught:
        normalise_sha_argument(given)
    assert repr(given) in caught.value.message
    assert "7 to 40 hex digits" in caught.value.message


# check_approvable


@pytest.mark.parametrize("sha", [HEAD, HEAD[:7], HEAD[:20]])
def test_a_pending_valid_approval_with_its_head_is_approvable(sha: str) -> None:
    check_approvable(approval(), sha, BASE)


def test_a_spawn_has_no_base_and_nothing_deployed() -> None:
    check_approvable(approval(base=None, kind=ApprovalKind.SPAWN), HEAD, None)


@pytest.mark.parametrize("status", [s for s in ApprovalStatus if s is not S.PENDING])
def test_only_pending_approvals_can_be_approved(status: ApprovalStatus) -> None:
    with pytest.raises(Conflict) as caught:
        check_approvable(approval(status=status), HEAD, BASE)
    assert f"already {status.value}" in caught.value.message
    assert "#7" in caught.value.message


def test_an_invalid_proposal_is_refused_with_its_first_error() -> None:
    errors = [{"message": "model: must be a string"}, {"message": "second"}]
    with pytest.raises(InvalidProposal) as caught:
        check_approvable(approval(valid=False, errors=errors), HEAD, BASE)
    assert "model: must be a string" in caught.value.message
    assert "second" not in caught.value.message
    assert caught.value.status == 422


def test_an_invalid_proposal_without_errors_is_still_refused() -> None:
    with pytest.raises(InvalidProposal):
        check_approvable(approval(valid=False, errors=[]), HEAD, BASE)


@pytest.mark.parametrize("sha", [OTHER, OTHER[:7], HEAD[1:8], "", HEAD[:3]])
def test_a_sha_that_is_not_the_pinned_head_is_refused(sha: str) -> None:
    with pytest.raises(Conflict) as caught:
        check_approvable(approval(), sha, BASE)
    assert HEAD in caught.value.message and "review the diff again" in caught.value.message


def test_a_changed_deployed_commit_is_refused() -> None:
    with pytest.raises(Conflict) as caught:
        check_approvable(approval(), HEAD, OTHER)
    assert "deployed commit changed" in caught.value.message


def test_a_spawn_is_refused_once_something_was_deployed() -> None:
    with pytest.raises(Conflict):
        check_approvable(approval(base=None), HEAD, OTHER)


def test_the_status_is_checked_before_the_sha() -> None:
    with pytest.raises(Conflict) as caught:
        check_approvable(approval(status=S.DENIED), OTHER, BASE)
    assert "already denied" in caught.value.message


# check_deny_reason


def test_a_deny_reason_is_stripped() -> None:
    assert check_deny_reason("  too broad a tool list \n") == "too broad a tool list"


@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t"])
def test_a_deny_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(HiveError) as caught:
        check_deny_reason(reason)
    assert "--reason" in caught.value.message


def test_a_deny_reason_is_at_most_4000_characters() -> None:
    assert check_deny_reason("x" * 4000 + "   ") == "x" * 4000
    with pytest.raises(HiveError) as caught:
        check_deny_reason("x" * 4001)
    assert "4000" in caught.value.message


# should_auto_submit


def auto(**changes: Any) -> bool:
    args: dict[str, Any] = {
        "head": HEAD,
        "deployed": BASE,
        "auto_submit": True,
        "has_history": True,
        "pending_head": None,
        "last_for_head": None,
    }
    args.update(changes)
    return should_auto_submit(**args)


def test_a_new_head_is_auto_submitted() -> None:
    assert auto() is True
    assert auto(pending_head=OTHER) is True
    assert auto(deployed=None) is True


@pytest.mark.parametrize(
    "changes",
    [
        {"head": None},
        {"auto_submit": False},
        {"has_history": False},
        {"deployed": HEAD},
        {"pending_head": HEAD},
        {"last_for_head": S.DENIED},
        {"last_for_head": S.FAILED},
        {"last_for_head": S.APPROVED},
        {"last_for_head": S.BUILDING},
    ],
)
def test_auto_submit_holds_back(changes: dict[str, Any]) -> None:
    assert auto(**changes) is False


@pytest.mark.parametrize("last", [S.PENDING, S.SUPERSEDED, S.DEPLOYED])
def test_a_head_seen_before_but_not_refused_is_submitted_again(last: ApprovalStatus) -> None:
    assert auto(last_for_head=last) is True


# agent_status


def status(**changes: Any) -> str:
    args: dict[str, Any] = {
        "deployed": BASE,
        "has_pending": False,
        "last_status": S.DEPLOYED,
        "runtime_status": "running",
        "desired": "running",
    }
    args.update(changes)
    return agent_status(**args)


def test_a_never_deployed_agent_is_a_draft_pending_or_failed() -> None:
    assert status(deployed=None, last_status=None) == "draft"
    assert status(deployed=None, last_status=S.DENIED) == "draft"
    assert status(deployed=None, last_status=S.SUPERSEDED) == "draft"
    assert status(deployed=None, has_pending=True, last_status=S.PENDING) == "pending"
    assert status(deployed=None, last_status=S.APPROVED) == "pending"
    assert status(deployed=None, last_status=S.BUILDING) == "pending"
    assert status(deployed=None, last_status=S.FAILED) == "failed"
    assert status(deployed=None, has_pending=True, last_status=S.FAILED) == "pending"


def test_a_deployed_agent_reports_its_runtime() -> None:
    assert status() == "running"
    assert status(runtime_status="crashed") == "crashed"
    assert status(runtime_status="stopped") == "stopped"
    assert status(runtime_status="starting") == "stopped"
    assert status(has_pending=True) == "running"
    assert status(last_status=S.FAILED) == "running"


def test_an_agent_the_operator_stopped_is_stopped_whatever_the_runtime_says() -> None:
    assert status(desired="stopped") == "stopped"
    assert status(desired="stopped", runtime_status="crashed") == "stopped"
