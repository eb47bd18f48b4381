"""Carrying out an approval: approved -> building -> deployed | failed; applied.git main moves
only after the runtime started the commit."""

from __future__ import annotations

import logging
from functools import partial

from gitops_hive import repos
from gitops_hive.agents import get_approval
from gitops_hive.approvals.decide import mark_approved, notice_data
from gitops_hive.approvals.mirror import mirror_decided
from gitops_hive.approvals.rules import RESUMABLE, base_moved
from gitops_hive.approvals.submit import queue_pinned
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy.launch import start_commit
from gitops_hive.deploy.superseding import record_superseded
from gitops_hive.errors import HiveError, RuntimeFailure
from gitops_hive.outcomes import Notice, Outcome, record_outcome
from gitops_hive.overrides.switching import carry_pinned_note
from gitops_hive.records import Approval, ApprovalStatus
from gitops_hive.store import Connection, queries
from gitops_hive.text import UNSHOWABLE

log = logging.getLogger(__name__)
LOG_LIMIT = 64 * 1024
NOTICE_LOG_LINES = 30
MAX_REASON = 200  # characters of an unexpected error's text in a reason


async def approve(
    ctx: HiveContext, approval_id: int, sha: str, who: str, *, wait: bool
) -> Approval:
    """Approve exactly the pinned head the reviewer saw, then build it."""
    await mark_approved(ctx, approval_id, sha, who)
    task = ctx.spawn_task(build(ctx, approval_id))
    if wait:
        await task
    return await get_approval(ctx, approval_id)


async def build(ctx: HiveContext, approval_id: int) -> None:
    """approved -> building -> deployed | failed | superseded; applied.git main moves only on
    success. Whatever goes wrong, the approval leaves `building`."""
    approval = await get_approval(ctx, approval_id)
    async with ctx.build_locks(approval.agent):
        approval = await get_approval(ctx, approval_id)
        if approval.status not in RESUMABLE:
            return
        async with ctx.db.write() as conn:
            await queries.transition(conn, approval_id, RESUMABLE, ApprovalStatus.BUILDING)
        ctx.bus.publish("approval", id=approval_id, agent=approval.agent, status="building")
        applied = ctx.layout.agent(approval.agent).applied
        try:
            main = await blocking(repos.get_ref, applied, repos.MAIN)
            stale = base_moved(approval, main)
            if not stale:
                await _start(ctx, approval, main)
        except Exception as exc:  # never stuck: any failure ends the build as failed
            await _record_failure(ctx, approval, as_failure(approval, exc))
            return
        if stale:
            await record_superseded(ctx, approval, main)
            return
        try:
            await carry_pinned_note(ctx, approval)
        except Exception:  # main moved and the commit runs: it is deployed all the same
            log.exception(
                "agent %s: approval #%d deployed, but its model note was not carried",
                approval.agent,
                approval.id,
            )
        await _record_deployed(
            ctx, approval, previous=main if main != approval.head else approval.base
        )


async def _start(ctx: HiveContext, approval: Approval, main: str | None) -> None:
    """Have the runtime run the head, then move main to it; if main is there already (the
    controller stopped after moving it), only make sure the head runs."""
    if main != approval.head:
        report = ctx.progress.reporter(approval.id, approval.agent)
        try:
            await start_commit(ctx, approval.agent, approval.head, approval.model_note, report)
        finally:
            ctx.progress.end(approval.id)
        await blocking(
            repos.set_ref,
            ctx.layout.agent(approval.agent).applied,
            repos.MAIN,
            approval.head,
            f"hive: deploy approval #{approval.id} ({approval.decided_by})",
        )
    elif ctx.runtime.status(approval.agent).sha != approval.head:
        await start_or_log(ctx, approval.agent, approval.head)


def as_failure(approval: Approval, exc: Exception) -> RuntimeFailure:
    """What a build's exception tells the approval and the manager, in one line; an
    unexpected one is logged with its traceback for the operator."""
    if isinstance(exc, RuntimeFailure):
        return exc
    if isinstance(exc, HiveError):  # an unreadable commit, a full uid pool
        return RuntimeFailure(exc.message)
    log.error(
        "agent %s: approval #%d: unexpected error in the build",
        approval.agent,
        approval.id,
        exc_info=exc,
    )
    return RuntimeFailure(f"unexpected error: {one_line(exc)}; the controller's log has more")


def one_line(exc: BaseException) -> str:
    """An exception as one short, printable line: its type and the start of its text."""
    text = " ".join(UNSHOWABLE.sub("?", str(exc)).split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _record_deployed(ctx: HiveContext, approval: Approval, previous: str | None) -> None:
    async def deployed_rows(conn: Connection) -> None:
        await queries.transition(
            conn, approval.id, (ApprovalStatus.BUILDING,), ApprovalStatus.DEPLOYED
        )
        await queries.insert_deployment(conn, approval.agent, approval.id, approval.head, previous)
        await queries.set_desired(conn, approval.agent, "running")

    await record_outcome(
        ctx,
        Outcome(
            agent=approval.agent,
            event="approval_deployed",
            event_data={"id": approval.id, "head": approval.head},
            notice=Notice(
                "approval_deployed",
                f"Approval #{approval.id} for {approval.agent} was approved by "
                f"{approval.decided_by} and {approval.head[:12]} is running.",
                {**notice_data(approval), "by": approval.decided_by},
            ),
            topic="approval",
            published={"id": approval.id, "status": "deployed"},
            log_line=f"agent {approval.agent}: deployed {approval.head} (approval #{approval.id})",
        ),
        steps=[deployed_rows],
        after_commit=[partial(mirror_decided, ctx, approval.id)],
    )
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
    lines = failure.log.splitlines()

    async def failed_row(conn: Connection) -> None:
        await queries.transition(
            conn,
            approval.id,
            (ApprovalStatus.BUILDING,),
            ApprovalStatus.FAILED,
            log=text,
            reason=failure.message,
        )

    await record_outcome(
        ctx,
        Outcome(
            agent=approval.agent,
            event="approval_failed",
            event_data={"id": approval.id, "error": failure.message, "log_tail": lines[-50:]},
            notice=Notice(
                "approval_failed",
                f"Approval #{approval.id} for {approval.agent} failed to start: {failure.message}",
                {
                    **notice_data(approval),
                    "error": failure.message,
                    "log_tail": lines[-NOTICE_LOG_LINES:],
                },
            ),
            topic="approval",
            published={"id": approval.id, "status": "failed"},
            log_level=logging.WARNING,
            log_line=f"agent {approval.agent}: approval #{approval.id} failed: {failure.message}",
        ),
        steps=[failed_row],
        after_commit=[partial(mirror_decided, ctx, approval.id)],
    )


async def start_or_log(ctx: HiveContext, agent: str, sha: str) -> None:
    """Start `sha` again (desired state after a restart); a failure is logged, not raised, so
    one agent cannot keep the others (or the controller) from starting."""
    try:
        await start_commit(ctx, agent, sha)
    except HiveError as failure:
        log.warning("agent %s: cannot start %s: %s", agent, sha, failure.message)
    except Exception:
        log.exception("agent %s: cannot start %s", agent, sha)
