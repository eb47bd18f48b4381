"""Switching models by writing notes in applied.git: the operator's override, the manager's
note carried on deploy, and the note a rollback needs."""

from __future__ import annotations

from typing import Any

from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import Conflict
from gitops_hive.overrides.effective import (
    allowed_models,
    effective_at,
    model_status,
    parsed_note,
)
from gitops_hive.overrides.note import CLEAR, ModelNote, check_model, check_reason, render_note
from gitops_hive.records import Approval, ApprovalKind
from gitops_hive.repos import notes
from gitops_hive.store import queries


def _message(note: ModelNote, sha: str) -> str:
    reason = f": {note.reason}" if note.reason else ""
    return f"model {note.model} on {sha[:12]} by {note.set_by}{reason}"


async def write_override(ctx: HiveContext, name: str, sha: str, note: ModelNote) -> None:
    """Write `note` on `sha` in applied.git, record it, and tell the pages."""
    applied = ctx.layout.agent(name).applied
    await blocking(notes.write_note, applied, sha, render_note(note), _message(note, sha))
    async with ctx.db.write() as conn:
        await queries.insert_event(conn, "model_override", name, {"on": sha, **note.to_json()})
    ctx.bus.publish("model", agent=name, model=note.model)


async def set_override(
    ctx: HiveContext, raw_name: str, model: str | None, reason: str | None, who: str
) -> dict[str, Any]:
    """The operator's override (or, with model None, its clearing) on the deployed commit."""
    name = await require_agent(ctx, raw_name)
    text = check_reason(reason)
    wanted = None if model is None else check_model(model, allowed_models(ctx))
    # Under the build lock: a deploy moves main and writes its note before we read main.
    async with ctx.build_locks(name):
        deployed = await deployed_sha(ctx, name)
        if deployed is None:
            raise Conflict(f"{name} has no deployed commit yet; approve it first, then override")
        if wanted is None:
            now = await effective_at(ctx, name, deployed)
            if now.source != "note":
                raise Conflict(
                    f"{name} has no model override to clear; it runs {now.model} from {now.source}"
                )
        await write_override(ctx, name, deployed, ModelNote(wanted or CLEAR, who, text))
    return await model_status(ctx, name)


async def carry_pinned_note(ctx: HiveContext, approval: Approval) -> None:
    """On deploy, write the note pinned with the approval on its head in applied.git.

    `set_by` is the manager and the approval, whatever the note claimed: an agent cannot
    sign a switch as the operator (a rollback's note is the controller's own). Idempotent,
    so a resumed build writes it once.
    """
    if approval.model_note is None:
        return
    pinned = parsed_note(approval.model_note)
    if pinned is None:
        return
    signer = f"{ctx.config.manager} (approval #{approval.id})"
    if approval.kind is ApprovalKind.ROLLBACK:  # the controller wrote this note itself
        signer = pinned.set_by
    note = ModelNote(pinned.model, signer, pinned.reason)
    applied = ctx.layout.agent(approval.agent).applied
    current = await blocking(notes.read_note, applied, approval.head)
    if current is not None and parsed_note(current) == note:
        return
    await write_override(ctx, approval.agent, approval.head, note)


async def rollback_note(ctx: HiveContext, name: str, target: str, parent: str) -> str | None:
    """The note a rollback to `target` needs so that it runs `target`'s model again."""
    applied = ctx.layout.agent(name).applied
    then = await blocking(notes.find_first_parent_note, applied, target)
    inherited = await blocking(notes.find_first_parent_note, applied, parent)
    then_note = parsed_note(then.text) if then else None
    if then_note is not None and not then_note.clears:
        return render_note(ModelNote(then_note.model, "hive (rollback)", f"as on {target[:12]}"))
    inherited_note = parsed_note(inherited.text) if inherited else None
    if inherited_note is not None and not inherited_note.clears:
        return render_note(ModelNote(CLEAR, "hive (rollback)", f"as on {target[:12]}"))
    return None
