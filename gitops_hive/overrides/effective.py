"""The effective model of an agent and what the pages show of it: the note found first on
first-parent history, else agent.toml, else the hive default; active or queued; its switches."""

from __future__ import annotations

from typing import Any

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.context import HiveContext, blocking
from gitops_hive.overrides.note import (
    Effective,
    ModelNote,
    effective,
    model_state,
    parse_note,
)
from gitops_hive.records import AgentRecord, Approval
from gitops_hive.repos import notes
from gitops_hive.spec import validate_spec
from gitops_hive.store import queries

HISTORY_LIMIT = 20
SPEC_MODELS_KEPT = 4096  # commits whose agent.toml model is remembered (oldest dropped)
_SPEC_MODELS: dict[str, str | None] = {}


def allowed_models(ctx: HiveContext) -> tuple[str, ...]:
    return tuple(str(m) for m in ctx.config["models"])


async def _spec_model(ctx: HiveContext, name: str, sha: str) -> str | None:
    # A commit never changes, so neither does its agent.toml's model: read once per commit.
    if sha in _SPEC_MODELS:
        return _SPEC_MODELS[sha]
    text = await blocking(repos.read_blob, ctx.layout.agent(name).applied, sha, "agent.toml")
    spec, _ = validate_spec(text.decode("utf-8", "replace")) if text is not None else (None, [])
    model = spec.model if spec else None
    _SPEC_MODELS[sha] = model
    while len(_SPEC_MODELS) > SPEC_MODELS_KEPT:
        del _SPEC_MODELS[next(iter(_SPEC_MODELS))]
    return model


def parsed_note(text: str) -> ModelNote | None:
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
    pinned_note = parsed_note(pinned) if pinned is not None else None
    if pinned_note is not None:
        note = (sha, pinned_note)
    else:
        found = await blocking(notes.find_first_parent_note, applied, sha)
        parsed = parsed_note(found.text) if found else None
        if found is not None and parsed is not None:
            note = (found.commit, parsed)
    return effective(note, await _spec_model(ctx, name, sha), ctx.config["default_model"])


async def current_model(ctx: HiveContext, name: str) -> str:
    """The model the agent's next turn runs with (the harness asks before every turn)."""
    deployed = await deployed_sha(ctx, name)
    if deployed is None:
        return str(ctx.config["default_model"])
    return (await effective_at(ctx, name, deployed)).model


async def effective_now(ctx: HiveContext, name: str, deployed: str | None) -> Effective:
    """The effective model of the deployed commit (the hive default for none)."""
    if deployed is None:
        return effective(None, None, ctx.config["default_model"])
    return await effective_at(ctx, name, deployed)


async def model_summary(
    ctx: HiveContext, record: AgentRecord, deployed: str | None
) -> dict[str, Any]:
    """What an agent listing shows of the model, from what the caller has already read."""
    return model_fields(await effective_now(ctx, record.name, deployed), record)


def model_fields(now: Effective, record: AgentRecord) -> dict[str, Any]:
    """The model as a listing shows it: effective, its source, active or queued."""
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
    now = await effective_now(ctx, name, deployed)
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


EffectiveSeen = dict[tuple[str, str, str | None], Effective]  # (agent, sha, pinned note)


async def model_change(
    ctx: HiveContext, approval: Approval, seen: EffectiveSeen | None = None
) -> dict[str, Any] | None:
    """What approving would do to the model: from, to, and whether a note says so. `seen`
    keeps what one view already read (one approval's base is often the last one's head)."""
    known: EffectiveSeen = {} if seen is None else seen

    async def at(sha: str, pinned: str | None = None) -> Effective:
        key = (approval.agent, sha, pinned)
        if key not in known:
            known[key] = await effective_at(ctx, approval.agent, sha, pinned)
        return known[key]

    after = await at(approval.head, approval.model_note)
    before = await at(approval.base) if approval.base else None
    if before is not None and before.model == after.model and approval.model_note is None:
        return None
    return {
        "from": before.model if before else None,
        "to": after.model,
        "source": after.source,
        "note": approval.model_note is not None,
    }
