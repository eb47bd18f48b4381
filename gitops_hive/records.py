"""Records the store returns and the domain passes around: frozen, plain data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    BUILDING = "building"
    DEPLOYED = "deployed"
    FAILED = "failed"
    DENIED = "denied"
    SUPERSEDED = "superseded"


# Which status an approval may move to from each; the store's transition enforces it.
TRANSITIONS: dict[ApprovalStatus, frozenset[ApprovalStatus]] = {
    ApprovalStatus.PENDING: frozenset(
        {ApprovalStatus.APPROVED, ApprovalStatus.DENIED, ApprovalStatus.SUPERSEDED}
    ),
    ApprovalStatus.APPROVED: frozenset({ApprovalStatus.BUILDING}),
    # superseded: the deployed commit moved since it was approved (found when it is built).
    ApprovalStatus.BUILDING: frozenset(
        {ApprovalStatus.DEPLOYED, ApprovalStatus.FAILED, ApprovalStatus.SUPERSEDED}
    ),
    ApprovalStatus.DEPLOYED: frozenset(),
    ApprovalStatus.FAILED: frozenset(),
    ApprovalStatus.DENIED: frozenset(),
    ApprovalStatus.SUPERSEDED: frozenset(),
}


def can_move(old: ApprovalStatus, new: ApprovalStatus) -> bool:
    """Whether the approval state machine allows old -> new."""
    return new in TRANSITIONS[old]


class ApprovalKind(StrEnum):
    SPAWN = "spawn"
    APPLY = "apply"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Approval:
    """A pinned proposal and what became of it."""

    id: int
    agent: str
    kind: ApprovalKind
    head: str
    base: str | None
    status: ApprovalStatus
    valid: bool
    errors: list[dict[str, Any]]
    created: float
    source: str
    rewrites_history: bool = False
    summary: str = ""
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    log: str | None = None
    model_note: str | None = None  # the manager's note on head, pinned at submission

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "kind": self.kind.value,
            "head": self.head,
            "base": self.base,
            "status": self.status.value,
            "valid": self.valid,
            "errors": self.errors,
            "created": self.created,
            "source": self.source,
            "rewrites_history": self.rewrites_history,
            "summary": self.summary,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "reason": self.reason,
            "model_note": self.model_note,
        }


@dataclass(frozen=True)
class Deployment:
    """A commit that became an agent's desired state."""

    id: int
    agent: str
    approval_id: int
    sha: str
    previous: str | None
    deployed_at: float


@dataclass(frozen=True)
class AgentRecord:
    """What the controller keeps about an agent besides its repos."""

    name: str
    created: float
    auto_submit: bool = True
    desired: str = "running"  # running | stopped
    last_turn_model: str | None = None
    last_turn_at: float | None = None


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    agent: str | None
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One message in an agent's inbox."""

    id: int
    recipient: str
    sender: str
    kind: str
    body: str
    data: dict[str, Any]
    created: float
    delivered_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.recipient,
            "from": self.sender,
            "kind": self.kind,
            "body": self.body,
            "data": self.data,
            "created": self.created,
            "delivered_at": self.delivered_at,
        }


@dataclass(frozen=True)
class Question:
    """A question the manager put to the operator, and its answer once given."""

    id: int
    asker: str
    question: str
    options: list[str]
    created: float
    answer: str | None = None
    answered_by: str | None = None
    answered_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "asker": self.asker,
            "question": self.question,
            "options": self.options,
            "created": self.created,
            "answer": self.answer,
            "answered_by": self.answered_by,
            "answered_at": self.answered_at,
        }


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a proposal's range, as the review lists it."""

    sha: str
    author: str  # "Name <email>"
    committer: str
    date: float  # the author's time, unix seconds
    message: str
    parents: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "author": self.author,
            "committer": self.committer,
            "date": self.date,
            "message": self.message,
            "parents": list(self.parents),
        }


# Telemetry


class StatRow(NamedTuple):
    """One stored figure: `key` of `agent` was `value` at `ts`."""

    agent: str
    ts: float
    key: str
    value: float


@dataclass(frozen=True)
class Bucket:
    """Aggregates of one key over one time bucket."""

    count: int
    total: float
    low: float
    high: float
    last_ts: float

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: Bucket) -> Bucket:
        return Bucket(
            self.count + other.count,
            self.total + other.total,
            min(self.low, other.low),
            max(self.high, other.high),
            max(self.last_ts, other.last_ts),
        )


@dataclass(frozen=True)
class Quantiles:
    """p50 and p95 of `count` values (exact for raw points, kept as such by a rollup)."""

    count: int
    p50: float
    p95: float


@dataclass(frozen=True)
class Rollup:
    """Raw rows of one key of one agent over [start, start + width), rolled into one."""

    agent: str
    key: str
    start: float
    width: float
    bucket: Bucket
    quantiles: Quantiles
