"""What the ref watcher (and a hook's ping) asks for when proposed/ moved: read it once, and
submit its main if the rule says so."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gitops_hive import repos
from gitops_hive.approvals.proposed_reads import read_proposed, readable_again
from gitops_hive.approvals.rules import should_auto_submit
from gitops_hive.approvals.submit import Seen, pin, same_note
from gitops_hive.context import HiveContext
from gitops_hive.errors import Conflict
from gitops_hive.names import validate_name
from gitops_hive.overrides.note import NOTE_FILE
from gitops_hive.records import AgentRecord, Approval
from gitops_hive.spec import Problem
from gitops_hive.store import queries

log = logging.getLogger(__name__)


async def rescan(ctx: HiveContext, raw_name: str, *, moved_only: bool = False) -> Approval | None:
    """Submit the agent's proposed/ main if the rule says so (one rescan of an agent at a
    time; a move meanwhile makes one more after it). With `moved_only` (the watcher, a hook's
    ping), nothing more is read when the ref files are as the last rescan left them."""
    name = validate_name(raw_name)
    return await ctx.rescans.run(name, lambda: _rescan(ctx, name, moved_only))


@dataclass(frozen=True)
class _Facts:
    """What the store says of an agent whose proposed/ moved."""

    record: AgentRecord
    pending: Approval | None
    has_history: bool


async def _rescan(ctx: HiveContext, name: str, moved_only: bool) -> Approval | None:
    record = await queries.get_agent(ctx.db, name)
    if record is None:  # a ping may name anything: nothing is read, locked or kept for it
        return None
    async with ctx.submit_locks(name):
        applied = ctx.layout.agent(name).applied
        known = ctx.rescanned.get(name) if moved_only else None
        try:
            main = await read_proposed(ctx, name, repos.read_main, applied, known)
        except Exception as exc:  # a broken or half-written repo: the next event retries
            log.warning("agent %s: cannot read proposed/: %s", name, exc)
            return None
        if main is None:  # its ref files did not move
            return None
        pending, has_history = await asyncio.gather(
            queries.open_approval(ctx.db, name), queries.has_approvals(ctx.db, name)
        )
        approval = await _submit_if_due(ctx, name, _Facts(record, pending, has_history), main)
        ctx.rescanned[name] = main.stamp  # only once it went through: a failure retries
        return approval


async def _submit_if_due(
    ctx: HiveContext, name: str, facts: _Facts, main: repos.ProposedMain
) -> Approval | None:
    head, pending = main.head, facts.pending
    note_problems = [Problem(NOTE_FILE, None, None, main.note_error)] if main.note_error else []
    last = await queries.latest_for_head(ctx.db, name, head) if head else None
    if head is None or not should_auto_submit(
        head=head,
        deployed=main.deployed,
        auto_submit=facts.record.auto_submit,
        has_history=facts.has_history,
        pending_head=pending.head if pending and pending.status.value == "pending" else None,
        last_for_head=last.status if last else None,
        note_changed=not same_note(last, main.note, note_problems),
    ):
        await readable_again(ctx, name)
        return None
    try:
        seen = Seen(head, main.deployed, main.note, note_problems)
        approval: Approval | None = await pin(
            ctx, name, seen, last, pending, whole_main=True, source="watcher"
        )
    except Conflict:
        approval = None
    await readable_again(ctx, name)  # main read whole, or was already pinned
    return approval
