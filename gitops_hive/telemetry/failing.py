"""An agent whose turns fail: the error its harness reported (`TurnEnd.error`) is its status
(`failing: agent CLI 'claude' not found`) until a turn ends well, and each change of it is
an event."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gitops_hive.context import HiveContext
from gitops_hive.errors import HiveError
from gitops_hive.outcomes import Outcome, record_outcome
from gitops_hive.store import queries
from gitops_hive.text import UNSHOWABLE

FAILING = "agent_failing"  # the event when an agent's turns start failing (or fail otherwise)
RECOVERED = "agent_turns_ok"  # the event when a turn ends well again
MAX_ERROR = 300  # characters of a failed turn's error
MAX_RETURNED = 200  # message ids one TurnEnd may hand back (a recv takes at most 50)


def turn_error(body: Mapping[str, Any], key: str = "error") -> str:
    """A TurnEnd's `error` (untrusted): one printable line, or HiveError."""
    error = body.get(key, "")
    if not isinstance(error, str) or len(error) > MAX_ERROR:
        raise HiveError(f"{key} must be a line of at most {MAX_ERROR} characters")
    if UNSHOWABLE.search(error):
        raise HiveError(f"{key} must be one line without control or bidi characters")
    return error


def returned_ids(body: Mapping[str, Any]) -> list[int]:
    """A TurnEnd's `returned` (untrusted): the ids of messages to hand back, or HiveError."""
    raw = body.get("returned", [])
    if not isinstance(raw, list) or len(raw) > MAX_RETURNED:
        raise HiveError(f"returned must be a list of at most {MAX_RETURNED} message ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in raw):
        raise HiveError("returned must list message ids (whole numbers above 0)")
    return list(raw)


async def restore_failing(ctx: HiveContext) -> None:
    """After a restart, an agent whose last turn event says failing shows failing again
    (the events hold it; the status itself lives in memory)."""
    for event in await queries.last_event_of(ctx.db, (FAILING, RECOVERED)):
        reason = event.data.get("reason")
        if event.kind == FAILING and event.agent and isinstance(reason, str):
            ctx.turn_problems.setdefault(event.agent, reason)


def failing_reason(ctx: HiveContext, name: str) -> str | None:
    """Why the agent's turns fail, or None when the last one ended well (or none ran yet)."""
    return ctx.turn_problems.get(name)


async def record_turn(ctx: HiveContext, name: str, exit_code: int, error: str) -> None:
    """A turn's outcome as the agent's failing status: set (an event when it changed), or
    cleared by a turn that ended well (an event when it was set)."""
    before = ctx.turn_problems.get(name)
    if exit_code == 0:
        if before is None:
            return
        ctx.turn_problems.pop(name, None)
        outcome = Outcome(
            agent=name,
            event=RECOVERED,
            event_data={"agent": name, "was": before},
            published={"failing": None},
            log_line=f"agent {name}: a turn ended well again",
        )
        await record_outcome(ctx, outcome)
    else:
        await mark_failing(ctx, name, error or f"a turn failed with exit status {exit_code}")


async def mark_failing(ctx: HiveContext, name: str, reason: str) -> None:
    """Show the agent failing for `reason` (a failed turn, or the harness's own check); an
    event when the reason is new."""
    if reason == ctx.turn_problems.get(name):
        return
    ctx.turn_problems[name] = reason  # before any await: the next report sees it
    outcome = Outcome(
        agent=name,
        event=FAILING,
        event_data={"agent": name, "reason": reason},
        published={"failing": reason},
        log_level=logging.WARNING,
        log_line=f"agent {name}: failing: {reason}",
    )
    await record_outcome(ctx, outcome)
