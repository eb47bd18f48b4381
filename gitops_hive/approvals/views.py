"""Read models of the review: pending approvals, an agent's history, one approval, its diff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from gitops_hive import repos
from gitops_hive.agents import get_approval, require_agent
from gitops_hive.approvals.changes import spec_changes, spec_risks
from gitops_hive.approvals.denied import carried_denials
from gitops_hive.approvals.pinned_specs import spec_at
from gitops_hive.approvals.risks import (
    bind_warnings,
    network_review,
    network_warnings,
    package_warnings,
)
from gitops_hive.context import HiveContext, blocking
from gitops_hive.diffs import DiffCaps, ProposalDiff
from gitops_hive.errors import Conflict, HiveError
from gitops_hive.overrides.effective import EffectiveSeen, model_change
from gitops_hive.records import ApprovalStatus
from gitops_hive.store import queries

BASES = ("deployed", "approved", "previous")
MAX_COMMITS_SHOWN = 200  # past this the review says how many more there are
# page: the dashboard's (web.* caps); patch: hivectl show and the API, every line of every
# file a valid proposal can change; stat: the same files, without their lines.
DiffView = Literal["page", "patch", "stat"]
MAX_PATHS = 100
MAX_PATH_CHARS = 4096


async def pending_view(ctx: HiveContext) -> list[dict[str, Any]]:
    approvals = await queries.list_approvals(ctx.db, statuses=(ApprovalStatus.PENDING,))
    seen: EffectiveSeen = {}
    return [
        {**a.to_json(), "model_change": await model_change(ctx, a, seen)}
        for a in sorted(approvals, key=lambda a: a.id)
    ]


async def history_view(
    ctx: HiveContext, raw_name: str, *, with_model: bool = True
) -> list[dict[str, Any]]:
    """Every approval of an agent, newest first, each with what it did (or does) to the model
    (`with_model`: the page's table leaves that walk of the notes out)."""
    name = await require_agent(ctx, raw_name)
    approvals = await queries.list_approvals(ctx.db, agent=name)
    if not with_model:
        return [a.to_json() for a in approvals]
    seen: EffectiveSeen = {}
    return [{**a.to_json(), "model_change": await model_change(ctx, a, seen)} for a in approvals]


async def approval_view(ctx: HiveContext, approval_id: int) -> dict[str, Any]:
    """One approval with what the review shows on top: its commits and the model change."""
    approval = await get_approval(ctx, approval_id)
    change = await model_change(ctx, approval)
    applied = ctx.layout.agent(approval.agent).applied
    commits, total = await blocking(
        repos.list_commits, applied, approval.base, approval.head, MAX_COMMITS_SHOWN
    )
    before = await spec_at(applied, approval.base)
    after = await spec_at(applied, approval.head)
    prompt = (before[1], after[1])
    spec = after[0] if approval.valid else None
    kind = ctx.config["runtime.kind"]
    network = None if spec is None else network_review(spec.network, kind)
    risks = [] if spec is None else network_warnings(spec.network)
    risks += [] if spec is None else package_warnings(spec.packages, kind)
    risks += [] if spec is None else bind_warnings(spec.binds, kind)
    return {
        **approval.to_json(),
        "log": approval.log,
        "progress": ctx.progress.lines(approval.id),
        "model_change": change,
        "commits": [c.to_json() for c in commits],
        "commits_total": total,
        "changes": {"model": change, **spec_changes(before[0], after[0], prompt)},
        "risks": [r.to_json() for r in spec_risks(before[0], after[0])],
        "network": None if network is None else network.to_json(),
        "warnings": [
            *(w.to_json() for w in risks),
            *await carried_denials(ctx, approval),
        ],
    }


async def resolve_base(ctx: HiveContext, approval_id: int, base: str) -> str | None:
    """The commit a reviewer compares against: deployed, last approved, or previous proposal."""
    if base not in BASES:
        raise HiveError(f"unknown base {base!r}: use one of {', '.join(BASES)}")
    approval = await get_approval(ctx, approval_id)
    if base == "deployed":
        return approval.base
    earlier = [
        a for a in await queries.list_approvals(ctx.db, agent=approval.agent) if a.id < approval_id
    ]
    if base == "approved":
        wanted = (ApprovalStatus.APPROVED, ApprovalStatus.BUILDING, ApprovalStatus.DEPLOYED)
        found = next((a for a in earlier if a.status in wanted), None)
    else:
        found = earlier[0] if earlier else None
    if found is None:
        raise Conflict(f"approval #{approval_id} has no {base} proposal before it")
    return found.head


def diff_caps(ctx: HiveContext, view: DiffView) -> DiffCaps:
    """How much of a diff each view produces. Every view lists (and reads) all a valid
    proposal can change, its old tree and its new; a larger one is cut there."""
    limits = ctx.limits
    listed, read = 2 * limits.max_files, 2 * limits.max_tree_bytes
    if view == "page":
        return DiffCaps(
            full_files=ctx.config["web.max_diff_files"],
            file_lines=ctx.config["web.max_diff_lines"],
            file_bytes=repos.MAX_DIFF_FILE_BYTES,
            total_lines=repos.MAX_DIFF_TOTAL_LINES,
            shown_bytes=ctx.config["web.max_page_bytes"],
            read_bytes=read,
            listed=listed,
        )
    return DiffCaps(
        full_files=0 if view == "stat" else listed,
        file_lines=repos.MAX_DIFF_FILE_LINES,
        file_bytes=repos.MAX_DIFF_FILE_BYTES,
        total_lines=repos.MAX_DIFF_TOTAL_LINES,
        shown_bytes=limits.max_tree_bytes,
        read_bytes=read,
        listed=listed,
    )


def path_caps(ctx: HiveContext, count: int) -> DiffCaps:
    """Files asked for by path are shown in full, whatever their lines, up to the size a
    valid file may have."""
    return DiffCaps(
        full_files=count,
        file_lines=repos.UNCAPPED,
        file_bytes=max(repos.MAX_DIFF_FILE_BYTES, ctx.limits.max_file_bytes),
        total_lines=repos.UNCAPPED,
        shown_bytes=repos.UNCAPPED,
        read_bytes=repos.UNCAPPED,
        listed=repos.UNCAPPED,
    )


def _check_paths(paths: Sequence[str]) -> tuple[str, ...]:
    if len(paths) > MAX_PATHS:
        raise HiveError(f"{len(paths)} paths asked for; at most {MAX_PATHS} at a time")
    for path in paths:
        if not path or len(path) > MAX_PATH_CHARS or "\0" in path:
            raise HiveError("a path must be 1 to 4096 characters, without NUL")
    return tuple(paths)


async def diff_view(
    ctx: HiveContext,
    approval_id: int,
    base: str = "deployed",
    view: DiffView = "patch",
    paths: Sequence[str] = (),
) -> ProposalDiff:
    """The approval's diff against `base`, as much as `view` shows; with `paths`, those
    files alone, in full."""
    approval = await get_approval(ctx, approval_id)
    base_sha = await resolve_base(ctx, approval_id, base)
    applied = ctx.layout.agent(approval.agent).applied
    if paths:
        wanted = _check_paths(paths)
        caps = path_caps(ctx, len(wanted))
        return await blocking(repos.diff_paths, applied, base_sha, approval.head, wanted, caps)
    caps = diff_caps(ctx, view)
    return await blocking(repos.diff_commits, applied, base_sha, approval.head, caps)
