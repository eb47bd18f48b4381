"""What each hive tool returns, as typed records: the MCP SDK publishes them as output schemas.

Every record lists its fields and forbids others (`additionalProperties: false`), so a reply
of the controller that grows a field fails the tests before it reaches an agent unannounced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A notice's machine-readable data: plain values only (ids, names, shas, log lines).
Plain = str | int | float | bool | list[str] | None


class Record(BaseModel):
    """A reply with exactly these fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Identity(Record):
    """whoami: who the caller is and what it may call."""

    name: str
    role: Literal["agent", "manager"]
    manager: str
    recipients: list[str] | Literal["*"] = Field(
        description="Whom you may message; '*': anyone (the manager)."
    )
    max_wait_seconds: float
    tools: list[str] = Field(description="The tools the hive lets you call.")


class Sent(Record):
    """send: the message queued in the recipient's inbox."""

    id: int
    to: str
    queued: bool


class Message(Record):
    """One message of an inbox: from an agent, the operator, or the hive (a notice)."""

    id: int
    to: str
    sender: str = Field(alias="from")
    kind: str = Field(description="'message', 'answer', or a notice such as approval_denied.")
    body: str
    data: dict[str, Plain] = Field(description="A notice's details: ids, names, shas, reasons.")
    created: float
    delivered_at: float | None


class Inbox(Record):
    """recv: the messages taken from the inbox (empty when the wait ran out)."""

    messages: list[Message]
    wait_seconds: float
    note: str | None = Field(default=None, description="Set when the wait was clamped.")


class Problem(Record):
    """One validation error of a proposal: where it is and what is wrong."""

    file: str
    line: int | None
    key: str | None
    message: str


class Approval(Record):
    """A proposal as the operator reviews it."""

    id: int
    agent: str
    kind: Literal["apply", "spawn", "rollback"]
    head: str = Field(description="The full sha pinned for review: exactly what may deploy.")
    base: str | None = Field(description="The deployed commit it was proposed against.")
    status: str
    valid: bool
    errors: list[Problem]
    created: float
    source: str
    rewrites_history: bool
    summary: str
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    model_note: str | None


class Submitted(Approval):
    """request_apply_commit, request_spawn, request_spawn_commit: the approval queued."""

    next: str


class ModelChange(Record):
    """What approving does to the agent's model."""

    before: str | None = Field(alias="from")
    to: str
    source: str
    note: bool


class Pending(Approval):
    """One approval waiting for the operator."""

    model_change: ModelChange | None


class Draft(Record):
    """request_spawn_draft: the new agent and where to work on it."""

    name: str
    status: str
    proposed: str | None = Field(description="The template's commit in its proposed/ repo.")
    repo: str = Field(description="Its proposed/ repo, where you commit.")
    state: str = Field(description="Its state folder; yours to write until its first deploy.")
    next: str


class Question(Record):
    """ask_operator: the question stored for the operator."""

    id: int
    asker: str
    question: str
    options: list[str]
    created: float
    answer: str | None
    answered_by: str | None
    answered_at: float | None
    next: str


class AgentSummary(Record):
    """One agent as the manager acts on it."""

    name: str
    status: str
    deployed: str | None
    proposed: str | None
    model: str
    model_source: str
    model_state: str
    pending: int | None = Field(description="The id of its pending approval, if any.")
