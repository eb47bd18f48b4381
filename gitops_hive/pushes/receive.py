"""A push received while git holds its objects in quarantine: the pushed commit copied out and
validated, then a new draft made or an existing agent's proposed/ main moved, and with
refs/for/ submitted. Everything is checked before anything is made, so a refusal leaves
nothing: git then drops the quarantine, and no agent folder, row or ref exists."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_hive import drafting, repos
from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.proposed_reads import read_proposed
from gitops_hive.approvals.submit import HISTORY_BUDGET_FACTOR, submit, validate_commit
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy.manager_view import MANAGER_AGENTS_DIR
from gitops_hive.errors import Conflict, InvalidProposal
from gitops_hive.messaging.notices import notify_manager, wake_manager
from gitops_hive.pushes.updates import FORCE_OPTION, Push, parse_push
from gitops_hive.records import Approval
from gitops_hive.store import queries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushTarget:
    """Where a push landed and who made it."""

    repo: Path  # the bare repo pushed to: the operator's hive.git, the manager's push.git
    pusher: str  # the operator's user, or "manager NAME"
    manager: bool  # the manager pushed (its next steps are tools, not hivectl)


async def receive_push(
    ctx: HiveContext,
    report: Any,
    pusher: str,
    by_manager: bool,
    created: Callable[[str], Awaitable[None]],
) -> list[str]:
    """A push to hive.git (the operator's) or, `by_manager`, to the manager's push.git, as its
    pre-receive hook reported it: carried out, or refused with nothing left behind."""
    push = parse_push(report)
    layout = ctx.layout
    repo = layout.agent(ctx.config.manager).push_repo if by_manager else layout.hive_git
    return await _receive(ctx, push, PushTarget(repo, pusher, by_manager), created)


async def _receive(
    ctx: HiveContext, push: Push, target: PushTarget, created: Callable[[str], Awaitable[None]]
) -> list[str]:
    short = push.new[:12]
    started = time.monotonic()
    if await queries.get_agent(ctx.db, push.name) is None:
        await _draft(ctx, push, target)
        await created(push.name)
        lines = [f"draft {push.name} created from {short}: agent.toml is valid"]
        deployed = False
    else:
        lines = await _move(ctx, push, target)
        deployed = await deployed_sha(ctx, push.name) is not None
    source = f"push by {target.pusher}"
    if push.submit:
        lines += _submitted(await submit(ctx, push.name, push.new, source=source), target)
    elif not deployed:
        lines.append(_how_to_submit(push, target))
    else:
        lines.append("the watcher submits it for review as any commit to proposed/ main")
    log.info(
        "agent %s: %s pushed %s to %s (%.0f ms)",
        push.name,
        target.pusher,
        push.new,
        push.ref,
        (time.monotonic() - started) * 1000,
    )
    url = _dashboard(ctx)
    if url:
        lines.append(f"dashboard: {url}agents/{push.name}")
    return lines


def _budget(ctx: HiveContext) -> tuple[int, int]:
    return ctx.limits.max_tree_bytes * HISTORY_BUDGET_FACTOR, ctx.limits.max_file_bytes


async def _validated_copy(ctx: HiveContext, push: Push, target: PushTarget, git_dir: Path) -> None:
    """Copy the pushed commit into a repo the controller made and refuse it unless valid."""
    budget, max_file = _budget(ctx)
    await ctx.reads.run(
        repos.copy_pushed, target.repo, push.quarantine, git_dir, push.new, budget, max_file
    )
    spec, problems = await validate_commit(
        ctx, git_dir, push.new, models=tuple(ctx.config["models"])
    )
    if spec is None or problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        first = str(problems[0]) if problems else "agent.toml is not valid"
        raise InvalidProposal(
            f"{push.name}: commit {push.new[:12]} is not a valid agent: {first}{more}; "
            "fix it, commit and push again"
        )


async def _draft(ctx: HiveContext, push: Push, target: PushTarget) -> None:
    async def make(path: Path) -> None:
        git_dir = await blocking(repos.init_empty_proposed, path)
        await _validated_copy(ctx, push, target, git_dir)
        await blocking(repos.check_out_main, git_dir, push.new)

    await drafting.draft(ctx, push.name, make, how=f"push by {target.pusher}")


async def _move(ctx: HiveContext, push: Push, target: PushTarget) -> list[str]:
    """Move an existing agent's proposed/ main to the pushed commit: a fast-forward, or a
    rewrite the pusher asked for with `-o force` (review flags it, as any rewrite)."""
    name, short = push.name, push.new[:12]
    agent = ctx.layout.agent(name)
    async with ctx.submit_locks(name):
        current = await read_proposed(ctx, name, repos.read_head)
        if current == push.new:
            return [f"{name}: proposed/ main is already {short}"]
        rewrite = current is not None and not await ctx.reads.run(
            repos.pushed_contains, target.repo, push.quarantine, push.new, current
        )
        if rewrite and not push.force:
            raise Conflict(
                f"{name}: {short} does not contain proposed/ main ({(current or '')[:12]}): "
                "a non-fast-forward push rewrites history; merge it, or push again with "
                f"`git push -f -o {FORCE_OPTION} ...` (review then flags the rewrite)"
            )
        scratch = agent.run / f".push-{os.getpid()}.git"
        try:
            await blocking(_fresh_bare, scratch)
            await _validated_copy(ctx, push, target, scratch)
            await read_proposed(ctx, name, repos.add_to_proposed, scratch, push.new, current)
        finally:
            await blocking(shutil.rmtree, scratch, True)
    where = await _tell_the_manager(ctx, push, target, current)
    moved = f"{name}: proposed/ main moved {current[:12] if current else 'from nothing'}..{short}"
    lines = [moved + (" (forced: review flags it as a history rewrite)" if rewrite else "")]
    if target.manager and name != ctx.config.manager:
        lines.append(f"its work tree still has the old files: `git -C {where} reset --hard main`")
    return lines


async def _tell_the_manager(
    ctx: HiveContext, push: Push, target: PushTarget, old: str | None
) -> str:
    """The event, and a notice for the manager, who works in that repo: its work tree and
    index still hold the old commit's files, so a commit there would undo the push. Returns
    where the manager sees that repo."""
    inside = ctx.runtime.private_users
    where = (
        f"{MANAGER_AGENTS_DIR}/{push.name}/config"
        if inside
        else str(ctx.layout.agent(push.name).proposed)
    )
    data = {"agent": push.name, "old": old, "new": push.new, "by": target.pusher}
    body = (
        f"{target.pusher} pushed {push.new[:12]} to {push.name}'s proposed/ main; its work "
        f"tree still has the old files: run `git -C {where} reset --hard main` before you "
        "commit there"
    )
    async with ctx.db.write() as conn:
        await queries.insert_event(conn, "proposed_pushed", push.name, data)
        # The manager pushed it itself, or it is the manager's own repo, which it never sees.
        needed = not target.manager and push.name != ctx.config.manager
        told = needed and await notify_manager(ctx, conn, "proposed_pushed", body, data)
    if told:
        wake_manager(ctx)
    return where


def _fresh_bare(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    repos.init_applied(path)


def _how_to_submit(push: Push, target: PushTarget) -> str:
    if target.manager:
        return (
            f"submit it for review with request_spawn_commit({push.name!r}, {push.new[:12]!r}),"
            f" or push to refs/for/{push.name}"
        )
    return f"submit it for review: `hivectl submit {push.name}`, or push to refs/for/{push.name}"


def _submitted(approval: Approval, target: PushTarget) -> list[str]:
    lines = [
        f"approval #{approval.id} ({approval.kind.value}) is pending review"
        + ("" if approval.valid else ": invalid, it cannot be approved")
    ]
    if not target.manager:
        lines.append(
            f"review it: `hivectl show {approval.id}`, then "
            f"`hivectl approve {approval.id} --sha {approval.head}`"
        )
    return lines


def _dashboard(ctx: HiveContext) -> str | None:
    try:
        return ctx.layout.dashboard_url.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
