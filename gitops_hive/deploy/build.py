"""Deciding approvals and carrying them out: approve, deny, build, rollback, recovery."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from gitops_hive import repos
from gitops_hive.approvals.rules import (
    RESUMABLE,
    check_approvable,
    check_deny_reason,
    normalise_sha_argument,
)
from gitops_hive.approvals.submit import deployed_sha, queue_pinned, require_agent, validate_pinned
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy import uids as uidpool
from gitops_hive.errors import Conflict, HiveError, NotFound, RuntimeFailure
from gitops_hive.messaging.notices import notify_manager, wake_manager
from gitops_hive.overrides import models
from gitops_hive.records import Approval, ApprovalKind, ApprovalStatus
from gitops_hive.runtime.base import AgentLaunch, Bind
from gitops_hive.store import queries

log = logging.getLogger(__name__)
LOG_LIMIT = 64 * 1024
MANAGER_AGENTS_DIR = "/agents"  # inside the manager's container: NAME/config, NAME/state
NOTICE_LOG_LINES = 30


async def get_approval(ctx: HiveContext, approval_id: int) -> Approval:
    approval = await queries.get_approval(ctx.db, approval_id)
    if approval is None:
        raise NotFound(f"no approval #{approval_id}: `hivectl pending` lists the open ones")
    return approval


async def _full_sha(ctx: HiveContext, approval: Approval, sha: str) -> str:
    value = normalise_sha_argument(sha)
    if len(value) == 40 or not approval.head.startswith(value):
        return value
    applied = ctx.layout.agent(approval.agent).applied
    return await blocking(repos.match_prefix, applied, value)


async def approve(
    ctx: HiveContext, approval_id: int, sha: str, who: str, *, wait: bool
) -> Approval:
    """Approve exactly the pinned head the reviewer saw, then build it."""
    approval = await get_approval(ctx, approval_id)
    full = await _full_sha(ctx, approval, sha)
    check_approvable(approval, full, await deployed_sha(ctx, approval.agent))
    async with ctx.db.write() as conn:
        won = await queries.transition(
            conn,
            approval_id,
            (ApprovalStatus.PENDING,),
            ApprovalStatus.APPROVED,
            decided_by=who,
            decided_at=time.time(),
        )
        if not won:
            raise Conflict(f"approval #{approval_id} was decided by someone else just now")
        await queries.insert_event(
            conn,
            "approval_approved",
            approval.agent,
            {"id": approval_id, "head": approval.head, "by": who},
        )
    ctx.bus.publish("approval", id=approval_id, agent=approval.agent, status="approved")
    task = ctx.spawn_task(build(ctx, approval_id))
    if wait:
        await task
    return await get_approval(ctx, approval_id)


async def deny(ctx: HiveContext, approval_id: int, reason: str | None, who: str) -> Approval:
    """Refuse a pending approval with a reason; git keeps it as an annotated tag."""
    text = check_deny_reason(reason)
    approval = await get_approval(ctx, approval_id)
    async with ctx.db.write() as conn:
        if not await queries.transition(
            conn,
            approval_id,
            (ApprovalStatus.PENDING,),
            ApprovalStatus.DENIED,
            decided_by=who,
            decided_at=time.time(),
            reason=text,
        ):
            current = await get_approval(ctx, approval_id)
            raise Conflict(f"approval #{approval_id} is already {current.status.value}")
        await queries.insert_event(
            conn, "approval_denied", approval.agent, {"id": approval_id, "reason": text, "by": who}
        )
        await notify_manager(
            ctx,
            conn,
            "approval_denied",
            f"Approval #{approval_id} for {approval.agent} was denied by {who}: {text}",
            {**_notice(approval), "reason": text, "by": who},
        )
    wake_manager(ctx)
    await mirror_ref(ctx, await get_approval(ctx, approval_id))
    ctx.bus.publish("approval", id=approval_id, agent=approval.agent, status="denied")
    return await get_approval(ctx, approval_id)


def _notice(approval: Approval) -> dict[str, Any]:
    return {
        "approval": approval.id,
        "agent": approval.agent,
        "kind": approval.kind.value,
        "head": approval.head,
    }


async def launch_for(
    ctx: HiveContext, agent_name: str, sha: str, env: dict[str, str]
) -> AgentLaunch:
    agent = ctx.layout.agent(agent_name)
    base = await uidpool.uid_base(ctx, agent_name) if ctx.runtime.private_users else None
    binds: tuple[Bind, ...] = ()
    if base is not None and agent_name == ctx.config.manager:
        binds = await manager_binds(ctx)
    return AgentLaunch(
        agent=agent.name,
        sha=sha,
        tree=agent.tree(sha),
        state=agent.state,
        run=agent.run,
        env=env,
        uid_base=base,
        binds=binds,
    )


async def manager_binds(ctx: HiveContext) -> tuple[Bind, ...]:
    """In its container the manager commits to every other agent's repo and reads its state."""
    binds: list[Bind] = []
    for record in await queries.list_agents(ctx.db):
        if record.name == ctx.config.manager:
            continue
        other = ctx.layout.agent(record.name)
        inside = f"{MANAGER_AGENTS_DIR}/{record.name}"
        binds.append(Bind(other.proposed, f"{inside}/config", writable=True, hand_over=True))
        binds.append(Bind(other.state, f"{inside}/state"))
    return tuple(binds)


async def start_commit(
    ctx: HiveContext, agent_name: str, sha: str, model_note: str | None = None
) -> None:
    """Materialise a pinned, valid commit and have the runtime run it."""
    spec, problems = await validate_pinned(ctx, agent_name, sha)
    if spec is None:
        raise RuntimeFailure(
            f"commit {sha} is not valid: {problems[0]}", log="\n".join(str(p) for p in problems)
        )
    agent = ctx.layout.agent(agent_name)
    await blocking(repos.materialize, agent.applied, sha, agent.tree(sha))
    env = {
        **spec.env,
        "HIVE_MODEL": (await models.effective_at(ctx, agent_name, sha, model_note)).model,
        "HIVE_AGENT": agent_name,
        "HIVE_SOCKET": str(agent.socket),
        "HIVE_AGENT_COMMAND": json.dumps(ctx.config.agent_command),
        "HIVE_TURN_TIMEOUT": str(ctx.config["harness.turn_timeout"]),
        "HIVE_COMPACT_COMMAND": json.dumps(ctx.config.compact_command),
        "HIVE_NOTES_LIMIT": str(ctx.config["harness.notes_limit"]),
    }
    await ctx.runtime.apply(await launch_for(ctx, agent_name, sha, env))


async def build(ctx: HiveContext, approval_id: int) -> None:
    """approved -> building -> deployed | failed; applied.git main moves only on success."""
    approval = await get_approval(ctx, approval_id)
    async with ctx.build_locks(approval.agent):
        approval = await get_approval(ctx, approval_id)
        if approval.status not in RESUMABLE:
            return
        async with ctx.db.write() as conn:
            await queries.transition(conn, approval_id, RESUMABLE, ApprovalStatus.BUILDING)
        ctx.bus.publish("approval", id=approval_id, agent=approval.agent, status="building")
        applied = ctx.layout.agent(approval.agent).applied
        main = await blocking(repos.get_ref, applied, repos.MAIN)
        if main != approval.head:
            try:
                await start_commit(ctx, approval.agent, approval.head, approval.model_note)
            except RuntimeFailure as failure:
                await _record_failure(ctx, approval, failure)
                return
            await blocking(
                repos.set_ref,
                applied,
                repos.MAIN,
                approval.head,
                f"hive: deploy approval #{approval_id} ({approval.decided_by})",
            )
        elif ctx.runtime.status(approval.agent).sha != approval.head:
            await _start_or_log(ctx, approval.agent, approval.head)
        await models.carry_pinned_note(ctx, approval)
        await _record_deployed(
            ctx, approval, previous=main if main != approval.head else approval.base
        )


async def _record_deployed(ctx: HiveContext, approval: Approval, previous: str | None) -> None:
    async with ctx.db.write() as conn:
        await queries.transition(
            conn, approval.id, (ApprovalStatus.BUILDING,), ApprovalStatus.DEPLOYED
        )
        await queries.insert_deployment(conn, approval.agent, approval.id, approval.head, previous)
        await queries.set_desired(conn, approval.agent, "running")
        await queries.insert_event(
            conn, "approval_deployed", approval.agent, {"id": approval.id, "head": approval.head}
        )
        await notify_manager(
            ctx,
            conn,
            "approval_deployed",
            f"Approval #{approval.id} for {approval.agent} was approved by "
            f"{approval.decided_by} and {approval.head[:12]} is running.",
            {**_notice(approval), "by": approval.decided_by},
        )
    wake_manager(ctx)
    await mirror_ref(ctx, await get_approval(ctx, approval.id))
    ctx.bus.publish("approval", id=approval.id, agent=approval.agent, status="deployed")
    log.info("agent %s: deployed %s (approval #%d)", approval.agent, approval.head, approval.id)
    await _rebase_pending(ctx, approval.agent, approval.head)


async def _rebase_pending(ctx: HiveContext, agent: str, deployed: str) -> None:
    """A proposal queued during the build was diffed against the old commit: queue it anew."""
    async with ctx.submit_locks(agent):
        pending = await queries.open_approval(ctx.db, agent)
        if pending is None or pending.status is not ApprovalStatus.PENDING:
            return
        if pending.base == deployed:
            return
        if pending.head == deployed and pending.model_note is None:
            return
        await queue_pinned(
            ctx,
            agent,
            pending.head,
            kind=None,
            source=pending.source,
            model_note=pending.model_note,
        )


async def _record_failure(ctx: HiveContext, approval: Approval, failure: RuntimeFailure) -> None:
    text = f"{failure.message}\n{failure.log}"[-LOG_LIMIT:]
    async with ctx.db.write() as conn:
        await queries.transition(
            conn,
            approval.id,
            (ApprovalStatus.BUILDING,),
            ApprovalStatus.FAILED,
            log=text,
            reason=failure.message,
        )
        await queries.insert_event(
            conn,
            "approval_failed",
            approval.agent,
            {
                "id": approval.id,
                "error": failure.message,
                "log_tail": failure.log.splitlines()[-50:],
            },
        )
        await notify_manager(
            ctx,
            conn,
            "approval_failed",
            f"Approval #{approval.id} for {approval.agent} failed to start: {failure.message}",
            {
                **_notice(approval),
                "error": failure.message,
                "log_tail": failure.log.splitlines()[-NOTICE_LOG_LINES:],
            },
        )
    wake_manager(ctx)
    await mirror_ref(ctx, await get_approval(ctx, approval.id))
    ctx.bus.publish("approval", id=approval.id, agent=approval.agent, status="failed")
    log.warning("agent %s: approval #%d failed: %s", approval.agent, approval.id, failure.message)


async def _start_or_log(ctx: HiveContext, agent: str, sha: str) -> None:
    try:
        await start_commit(ctx, agent, sha)
    except RuntimeFailure as failure:
        log.warning("agent %s: cannot start %s: %s", agent, sha, failure.message)


async def mirror_ref(ctx: HiveContext, approval: Approval) -> None:
    """Record a decided approval in applied.git so git alone tells the history."""
    applied = ctx.layout.agent(approval.agent).applied
    if approval.status is ApprovalStatus.DEPLOYED:
        await blocking(
            repos.set_ref,
            applied,
            repos.deployed_ref(approval.id),
            approval.head,
            f"hive: deployed #{approval.id}",
        )
    elif approval.status is ApprovalStatus.FAILED:
        await blocking(
            repos.set_ref,
            applied,
            repos.failed_ref(approval.id),
            approval.head,
            f"hive: failed #{approval.id}",
        )
    elif approval.status is ApprovalStatus.DENIED:
        message = f"{approval.reason}\n\nDenied-by: {approval.decided_by}"
        await blocking(
            repos.write_tag_ref,
            applied,
            repos.denied_ref(approval.id),
            approval.head,
            f"denied-{approval.id}",
            message,
        )


async def rollback(ctx: HiveContext, raw_name: str, to: str | None, who: str) -> Approval:
    """Deploy a new commit with an earlier deployed tree, approved by asking; pause auto-submit."""
    name = await require_agent(ctx, raw_name)
    applied = ctx.layout.agent(name).applied
    current = await deployed_sha(ctx, name)
    deployments = await queries.list_deployments(ctx.db, name)
    if current is None or not deployments:
        raise Conflict(f"{name} has nothing deployed to roll back")
    deployed_shas = {d.sha for d in deployments}
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
    else:
        prefix = normalise_sha_argument(to)
        matches = {sha for sha in deployed_shas if sha.startswith(prefix)}
        if len(matches) != 1:
            raise NotFound(
                f"{to} is not one earlier deployment of {name}: see `hivectl history {name}`"
            )
        target = matches.pop()
    if target == current:
        raise Conflict(f"{name} already runs {current}")
    head = await blocking(
        repos.commit_with_tree,
        applied,
        target,
        current,
        f"Roll back to {target[:12]}\n\nRequested-by: {who}\n",
    )
    note = await models.rollback_note(ctx, name, target, current)
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


async def recover(ctx: HiveContext) -> None:
    """At start: run every agent at its desired state, then finish interrupted builds."""
    starts = []
    for record in await queries.list_agents(ctx.db):
        for approval in await queries.list_approvals(ctx.db, agent=record.name):
            if approval.status not in (
                *RESUMABLE,
                ApprovalStatus.PENDING,
                ApprovalStatus.SUPERSEDED,
            ):
                await mirror_ref(ctx, approval)
        sha = await deployed_sha(ctx, record.name)
        if sha is not None and record.desired == "running":
            starts.append(_start_or_log(ctx, record.name, sha))
    await asyncio.gather(*starts)
    for approval in await queries.list_approvals(ctx.db, statuses=RESUMABLE):
        ctx.spawn_task(build(ctx, approval.id))
