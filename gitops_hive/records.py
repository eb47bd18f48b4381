"""Records the store returns and the domain passes around: frozen, plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    BUILDING = "building"
    DEPLOYED = "deployed"
    FAILED = "failed"
    DENIED = "denied"
    SUPERSEDED = "superseded"


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
    extra: dict[str, Any] = field(default_factory=dict)


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
