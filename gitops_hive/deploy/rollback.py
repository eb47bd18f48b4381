"""Rollback: a new commit with an earlier deployed tree, approved by the act of asking; and
resuming the watcher's auto-submit that a rollback paused."""

from __future__ import annotations

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.approvals.rules import normalise_sha_argument
from gitops_hive.approvals.submit import queue_pinned
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy.build import approve
from gitops_hive.errors import Conflict, HiveError, NotFound
from gitops_hive.overrides.switching import rollback_note
from gitops_hive.records import Approval, ApprovalKind, Deployment
from gitops_hive.store import queries


def _target(name: str, current: str, deployments: list[Deployment], to: str | None) -> str:
    if to is None:
        # A deploy of a new note on the running commit has previous == sha: look past it.
        target = next(
            (
                d.previous
                for d in deployments
                if d.sha == current and d.previous not in (None, current)
            ),
            None,
        )
        if target is None:
            raise Conflict(f"{name} has no deployment before {current[:12]} to roll back to")
        return target
    prefix = normalise_sha_argument(to)
    matches = {d.sha for d in deployments if d.sha.startswith(prefix)}
    if len(matches) != 1:
        raise NotFound(
            f"{to} is not one earlier deployment of {name}: see `hivectl history {name}`"
        )
    return matches.pop()


async def rollback(ctx: HiveContext, raw_name: str, to: str | None, who: str) -> Approval:
    """Deploy a new commit with an earlier deployed tree, approved by asking; pause auto-submit."""
    name = await require_agent(ctx, raw_name)
    applied = ctx.layout.agent(name).applied
    current = await deployed_sha(ctx, name)
    deployments = await queries.list_deployments(ctx.db, name)
    if current is None or not deployments:
        raise Conflict(f"{name} has nothing deployed to roll back")
    target = _target(name, current, deployments, to)
    if target == current:
        raise Conflict(f"{name} already runs {current}")
    head = await blocking(
        repos.commit_with_tree,
        applied,
        target,
        current,
        f"Roll back to {target[:12]}\n\nRequested-by: {who}\n",
    )
    note = await rollback_note(ctx, name, target, current)
    async with ctx.submit_locks(name):
        approval = await queue_pinned(
            ctx, name, head, kind=ApprovalKind.ROLLBACK, source="rollback", model_note=note
        )
    if not approval.valid:
        raise HiveError(f"rollback commit {head} failed validation: {approval.errors}")
    async with ctx.db.write() as conn:
        await queries.set_auto_submit(conn, name, False)
    return await approve(ctx, approval.id, head, who, wait=True)


async def resume(ctx: HiveContext, raw_name: str) -> None:
    """Let the watcher submit proposed/ main again after a rollback."""
    name = await require_agent(ctx, raw_name)
    async with ctx.db.write() as conn:
        await queries.set_auto_submit(conn, name, True)
        await queries.insert_event(conn, "auto_submit_resumed", name, {})
    ctx.bus.publish("agent", agent=name)
