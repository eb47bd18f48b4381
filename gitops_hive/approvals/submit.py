"""Submitting a commit of proposed/: resolve once, pin in applied.git, validate, queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.approvals.proposed_reads import read_proposed, readable_again
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import Conflict, HiveError
from gitops_hive.overrides.note import NOTE_FILE, parse_note
from gitops_hive.records import Approval, ApprovalKind, ApprovalStatus
from gitops_hive.repos import notes
from gitops_hive.spec import AgentSpec, Problem, model_problem
from gitops_hive.store import queries
from gitops_hive.validation import Limits, TreeListing, validate_proposal

log = logging.getLogger(__name__)
HISTORY_BUDGET_FACTOR = 4


async def validate_pinned(
    ctx: HiveContext, name: str, sha: str, *, models: Sequence[str] | None = None
) -> tuple[AgentSpec | None, list[Problem]]:
    """Validate a commit already pinned in applied.git; with `models`, its agent.toml's
    model must be one of them (a submission; a restart runs what was approved)."""
    return await validate_commit(ctx, ctx.layout.agent(name).applied, sha, models=models)


async def validate_commit(
    ctx: HiveContext, repo: Path, sha: str, *, models: Sequence[str] | None = None
) -> tuple[AgentSpec | None, list[Problem]]:
    """Validate a commit of a repo the controller wrote (applied.git, a pushed draft)."""
    listing, spec_text = await blocking(_read_pinned, repo, sha, ctx.limits)
    return _validated(ctx, listing, spec_text, models)


def _validated(
    ctx: HiveContext, listing: TreeListing, spec_text: bytes | None, models: Sequence[str] | None
) -> tuple[AgentSpec | None, list[Problem]]:
    spec, problems = validate_proposal(listing.entries, spec_text, ctx.limits, listing.cut)
    if spec is not None and spec_text is not None and models is not None:
        unknown = model_problem(spec_text.decode("utf-8"), spec, models)
        if unknown is not None:
            return None, [unknown]
    return spec, problems


def _read_pinned(repo: Path, sha: str, limits: Limits) -> tuple[TreeListing, bytes | None]:
    """A pinned commit's files and agent.toml, in one trip to a thread."""
    return repos.list_tree(repo, sha, limits), repos.read_blob(repo, sha, "agent.toml")


def _lineage(repo: Path, deployed: str | None, replaced: str | None, head: str) -> tuple[bool, str]:
    """Whether `head` rewrites history (it does not descend from the deployed commit, or from
    the pending head it replaces) and its summary, in one trip to a thread."""
    rewrites = deployed is not None and not repos.is_ancestor(repo, deployed, head)
    if not rewrites and replaced is not None:
        # The pending head, already under review, dropped from history: the reviewer must
        # see that the new proposal is not the old one plus more.
        rewrites = not repos.is_ancestor(repo, replaced, head)
    return rewrites, repos.commit_summary(repo, head)


async def proposed_note(
    ctx: HiveContext, name: str, head: str, deployed: str | None
) -> tuple[str | None, list[Problem]]:
    """The manager's model note for `head` in proposed/, read once (it is untrusted), and what
    makes it unreadable: a damaged note makes the proposal invalid, it never blocks it."""
    git_dir = ctx.layout.agent(name).proposed_git
    try:
        return await ctx.reads.run(notes.read_proposed_note, git_dir, head, deployed), []
    except HiveError as exc:
        return None, [Problem(NOTE_FILE, None, None, exc.message)]


def same_note(approval: Approval | None, note: str | None, problems: list[Problem]) -> bool:
    """Whether `approval` was submitted with this note (a damaged one counts as its error)."""
    if approval is None:
        return note is None and not problems
    # An error about the note while no note text was pinned: the note could not be read.
    damaged_before = approval.model_note is None and any(
        e.get("file") == NOTE_FILE for e in approval.errors
    )
    return approval.model_note == note and bool(problems) == damaged_before


@dataclass(frozen=True)
class Seen:
    """A head to submit as it was read, under the agent's submit lock: the deployed commit
    then, and the manager's model note (or why it could not be read)."""

    head: str
    deployed: str | None
    note: str | None
    note_problems: list[Problem]


def _checked(
    repo: Path, sha: str, limits: Limits, deployed: str | None, replaced: str | None
) -> tuple[TreeListing, bytes | None, bool, str]:
    """A pinned commit's files and agent.toml, whether it rewrites history, and its summary,
    in one trip to a thread."""
    return (*_read_pinned(repo, sha, limits), *_lineage(repo, deployed, replaced, sha))


async def queue_pinned(
    ctx: HiveContext,
    name: str,
    head: str,
    *,
    kind: ApprovalKind | None,
    source: str,
    model_note: str | None = None,
    note_problems: list[Problem] | None = None,
) -> Approval:
    """Validate a commit present in applied.git (and the model note pinned with it) and record
    it as the agent's pending approval. A rollback's note may name a model hive.toml has since
    dropped: it restores what ran then."""
    deployed = await deployed_sha(ctx, name)
    replaced = await queries.open_approval(ctx.db, name)
    seen = Seen(head, deployed, model_note, note_problems or [])
    return await _queue(ctx, name, seen, replaced, kind=kind, source=source)


async def _queue(
    ctx: HiveContext,
    name: str,
    seen: Seen,
    replaced: Approval | None,
    *,
    kind: ApprovalKind | None,
    source: str,
) -> Approval:
    agent = ctx.layout.agent(name)
    head, deployed, model_note = seen.head, seen.deployed, seen.note
    allowed = None if kind is ApprovalKind.ROLLBACK else tuple(ctx.config["models"])
    under_review = (
        replaced.head
        if kind is not ApprovalKind.ROLLBACK
        and replaced is not None
        and replaced.status is ApprovalStatus.PENDING
        and replaced.head != head
        else None
    )
    listing, spec_text, rewrites, summary = await blocking(
        _checked, agent.applied, head, ctx.limits, deployed, under_review
    )
    problems = _validated(ctx, listing, spec_text, allowed)[1] + seen.note_problems
    if model_note is not None:
        problems += parse_note(model_note, allowed)[1]
    if kind is None:
        kind = ApprovalKind.SPAWN if deployed is None else ApprovalKind.APPLY
    async with ctx.db.write() as conn:
        superseded = await queries.supersede_pending(conn, name)
        approval_id = await queries.insert_approval(
            conn,
            agent=name,
            kind=kind,
            head=head,
            base=deployed,
            valid=not problems,
            errors=[p.to_json() for p in problems],
            source=source,
            rewrites_history=rewrites,
            summary=summary,
            model_note=model_note,
        )
        await queries.note_superseded_by(conn, superseded, approval_id)
        await queries.insert_event(
            conn,
            "approval_submitted",
            name,
            {"id": approval_id, "head": head, "valid": not problems},
        )
        await blocking(
            repos.set_ref,
            agent.applied,
            repos.proposal_ref(approval_id),
            head,
            f"hive: pin proposal #{approval_id} from {source}",
        )
    approval = await queries.get_approval(ctx.db, approval_id)
    assert approval is not None
    ctx.bus.publish("approval", id=approval_id, agent=name, status="pending")
    log.info("agent %s: approval #%d pinned %s (valid=%s)", name, approval_id, head, not problems)
    return approval


async def submit(ctx: HiveContext, raw_name: str, ref: str | None, *, source: str) -> Approval:
    """Resolve `ref` (default: proposed main) to a full sha once, pin it, validate it, queue it."""
    name = await require_agent(ctx, raw_name)
    async with ctx.submit_locks(name):
        head = await read_proposed(ctx, name, repos.resolve_commit, ref or "main")
        deployed = await deployed_sha(ctx, name)
        note, note_problems = await proposed_note(ctx, name, head, deployed)
        last, current = await asyncio.gather(
            queries.latest_for_head(ctx.db, name, head), queries.open_approval(ctx.db, name)
        )
        seen = Seen(head, deployed, note, note_problems)
        return await pin(ctx, name, seen, last, current, whole_main=ref is None, source=source)


async def pin(
    ctx: HiveContext,
    name: str,
    seen: Seen,
    last: Approval | None,
    current: Approval | None,
    *,
    whole_main: bool,
    source: str,
) -> Approval:
    """Copy `seen.head` into applied.git and queue it, unless it runs already or is the open
    approval (under the agent's submit lock; `last`: the last approval of that head,
    `current`: the open one). `whole_main`: main was read whole, so the agent reads again."""
    head = seen.head
    # On the running commit, only a note other than the one reviewed with it counts.
    if head == seen.deployed and (
        (seen.note is None and not seen.note_problems)
        or same_note(last, seen.note, seen.note_problems)
    ):
        raise Conflict(f"{name} already runs {head}; commit a change to proposed/ first")
    if (
        current is not None
        and current.head == head
        and same_note(current, seen.note, seen.note_problems)
    ):
        if current.status is ApprovalStatus.PENDING:
            return current
        raise Conflict(f"approval #{current.id} for {head} is already {current.status.value}")
    budget = ctx.limits.max_tree_bytes * HISTORY_BUDGET_FACTOR
    max_file = ctx.limits.max_file_bytes
    applied = ctx.layout.agent(name).applied
    await read_proposed(ctx, name, repos.copy_commit, applied, head, budget, max_file)
    if whole_main:
        await readable_again(ctx, name)
    return await _queue(ctx, name, seen, current, kind=None, source=source)
