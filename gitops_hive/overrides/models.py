"""Model overrides as git notes: the effective model, the operator's override, the manager's
note carried through approval, and what each agent's page and `hivectl model` show."""

from __future__ import annotations

from typing import Any

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import Conflict
from gitops_hive.overrides.note import (
    CLEAR,
    Effective,
    ModelNote,
    check_model,
    check_reason,
    effective,
    model_state,
    parse_note,
    render_note,
)
from gitops_hive.records import AgentRecord, Approval, ApprovalKind
from gitops_hive.repos import notes
from gitops_hive.spec import validate_spec
from gitops_hive.store import queries

HISTORY_LIMIT = 20


def allowed_models(ctx: HiveContext) -> tuple[str, ...]:
    return tuple(str(m) for m in ctx.config["models"])


async def _spec_model(ctx: HiveContext, name: str, sha: str) -> str | None:
    text = await blocking(repos.read_blob, ctx.layout.agent(name).applied, sha, "agent.toml")
    if text is None:
        return None
    spec, _ = validate_spec(text.decode("utf-8", "replace"))
    return spec.model if spec else None


def _parsed(text: str) -> ModelNote | None:
    # A note already in applied.git was checked when written; a model hive.toml has since
    # dropped still names what the agent runs, so only the shape is checked here.
    found, _ = parse_note(text, allowed=None)
    return found


async def effective_at(
    ctx: HiveContext, name: str, sha: str, pinned: str | None = None
) -> Effective:
    """The model `sha` runs with: `pinned` (a note about to be written on it), else the first
    note on first-parent history, else agent.toml, else the hive default."""
    applied = ctx.layout.agent(name).applied
    note: tuple[str, ModelNote] | None = None
    pinned_note = _parsed(pinned) if pinned is not None else None
    if pinned_note is not None:
        note = (sha, pinned_note)
    else:
        found = await blocking(notes.find_first_parent_note, applied, sha)
        parsed = _parsed(found.text) if found else None
        if found is not None and parsed is not None:
            note = (found.commit, parsed)
    return effective(note, await _spec_model(ctx, name, sha), ctx.config["default_model"])


async def current_model(ctx: HiveContext, name: str) -> str:
    """The model the agent's next turn runs with (the harness asks before every turn)."""
    deployed = await deployed_sha(ctx, name)
    if deployed is None:
        return str(ctx.config["default_model"])
    return (await effective_at(ctx, name, deployed)).model


async def _effective_now(ctx: HiveContext, name: str, deployed: str | None) -> Effective:
    if deployed is None:
        return effective(None, None, ctx.config["default_model"])
    return await effective_at(ctx, name, deployed)


async def model_summary(
    ctx: HiveContext, record: AgentRecord, deployed: str | None
) -> dict[str, Any]:
    """What an agent listing shows of the model, from what the caller has already read."""
    now = await _effective_now(ctx, record.name, deployed)
    return {
        "model": now.model,
        "model_source": now.source,
        "model_state": model_state(now.model, record.last_turn_model),
        "last_turn_model": record.last_turn_model,
    }


async def model_status(ctx: HiveContext, raw_name: str) -> dict[str, Any]:
    """Effective model, its source, last switched (from the notes ref), active or queued."""
    name = await require_agent(ctx, raw_name)
    record = await queries.get_agent(ctx.db, name)
    assert record is not None
    deployed = await deployed_sha(ctx, name)
    now = await _effective_now(ctx, name, deployed)
    switched: dict[str, Any] | None = None
    if now.note_commit is not None:
        applied = ctx.layout.agent(name).applied
        change = await blocking(notes.last_change, applied, now.note_commit)
        if change is not None:
            assert now.note is not None
            switched = {
                "at": change.when,
                "by": now.note.set_by,
                "reason": now.note.reason,
                "on": now.note_commit,
            }
    return {
        "agent": name,
        "model": now.model,
        "model_source": now.source,
        "model_state": model_state(now.model, record.last_turn_model),
        "note_on": now.note_commit,
        "last_switched": switched,
        "last_turn_model": record.last_turn_model,
        "last_turn_at": record.last_turn_at,
        "deployed": deployed,
        "allowed": list(allowed_models(ctx)),
    }


async def model_history(ctx: HiveContext, raw_name: str) -> list[dict[str, Any]]:
    """Every switch of the agent's notes ref, newest first."""
    name = await require_agent(ctx, raw_name)
    applied = ctx.layout.agent(name).applied
    changes = await blocking(notes.history, applied, HISTORY_LIMIT)
    return [{"at": c.when, "message": c.message, "notes_commit": c.notes_commit} for c in changes]


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
    pinned = _parsed(approval.model_note)
    if pinned is None:
        return
    signer = f"{ctx.config.manager} (approval #{approval.id})"
    if approval.kind is ApprovalKind.ROLLBACK:  # the controller wrote this note itself
        signer = pinned.set_by
    note = ModelNote(pinned.model, signer, pinned.reason)
    applied = ctx.layout.agent(approval.agent).applied
    current = await blocking(notes.read_note, applied, approval.head)
    if current is not None and _parsed(current) == note:
        return
    await write_override(ctx, approval.agent, approval.head, note)


async def model_change(ctx: HiveContext, approval: Approval) -> dict[str, Any] | None:
    """What approving would do to the model: from, to, and whether a note says so."""
    after = await effective_at(ctx, approval.agent, approval.head, approval.model_note)
    before = await effective_at(ctx, approval.agent, approval.base) if approval.base else None
    if before is not None and before.model == after.model and approval.model_note is None:
        return None
    return {
        "from": before.model if before else None,
        "to": after.model,
        "source": after.source,
        "note": approval.model_note is not None,
    }


async def rollback_note(ctx: HiveContext, name: str, target: str, parent: str) -> str | None:
    """The note a rollback to `target` needs so that it runs `target`'s model again."""
    applied = ctx.layout.agent(name).applied
    then = await blocking(notes.find_first_parent_note, applied, target)
    inherited = await blocking(notes.find_first_parent_note, applied, parent)
    then_note = _parsed(then.text) if then else None
    if then_note is not None and not then_note.clears:
        return render_note(ModelNote(then_note.model, "hive (rollback)", f"as on {target[:12]}"))
    inherited_note = _parsed(inherited.text) if inherited else None
    if inherited_note is not None and not inherited_note.clears:
        return render_note(ModelNote(CLEAR, "hive (rollback)", f"as on {target[:12]}"))
    return None
