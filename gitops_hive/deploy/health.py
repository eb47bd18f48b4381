"""An agent's crash: recorded, told to the manager, and a new deploy's health gate."""

from __future__ import annotations

import logging

from gitops_hive.agents import deployed_sha
from gitops_hive.context import HiveContext
from gitops_hive.deploy.rollback import rollback
from gitops_hive.errors import HiveError
from gitops_hive.outcomes import Notice, Outcome, record_outcome
from gitops_hive.runtime.base import CrashReport
from gitops_hive.store import queries

log = logging.getLogger(__name__)
HEALTH_GATE = "hive (health gate)"


def _describe(report: CrashReport) -> str:
    status = (
        f"was killed by signal {-report.returncode}"
        if report.returncode < 0
        else f"exited with status {report.returncode}"
    )
    if report.restart_in is None:
        what = f"; {report.crashes_recent} crashes in a row: it stays down until `hivectl start`"
    else:
        what = f"; restarting in {report.restart_in:.1f}s"
    return f"Agent {report.agent} {status}{what}."


async def record_crash(ctx: HiveContext, report: CrashReport) -> None:
    """The events table and the manager's inbox hear of it in one transaction."""
    data = {
        "agent": report.agent,
        "sha": report.sha,
        "exit": report.returncode,
        "log_tail": report.log_tail[-50:],
        "restart_in": report.restart_in,
        "crashes_recent": report.crashes_recent,
        "gave_up": report.restart_in is None,
    }
    await record_outcome(
        ctx,
        Outcome(
            agent=report.agent,
            event="container_crash",
            event_data=data,
            notice=Notice("agent_crashed", _describe(report), data),
            published={"crash": report.returncode},
            log_level=logging.WARNING,
            log_line=_describe(report),
        ),
    )
    if (
        report.since_apply <= ctx.config["runtime.health_window"]
        and report.crashes_since_apply >= ctx.config["runtime.health_crashes"]
    ):
        ctx.spawn_task(health_gate(ctx, report))


async def health_gate(ctx: HiveContext, report: CrashReport) -> None:
    """A deploy that crash-loops right after it started goes back to the one before it."""
    agent = report.agent
    current = await deployed_sha(ctx, agent)
    if current != report.sha:
        return  # already replaced
    deployment = next(
        (d for d in await queries.list_deployments(ctx.db, agent) if d.sha == current), None
    )
    if deployment is None or deployment.previous is None:
        log.warning("agent %s: its first deploy crash-loops; nothing to roll back to", agent)
        return
    try:
        approval = await rollback(ctx, agent, deployment.previous, HEALTH_GATE)
    except HiveError as exc:
        log.warning("agent %s: health gate could not roll back: %s", agent, exc.message)
        return
    body = (
        f"Agent {agent} crashed {report.crashes_since_apply} times within "
        f"{report.since_apply:.0f}s of deploying {current[:12]}; the hive rolled it back to "
        f"{deployment.previous[:12]} (approval #{approval.id}, {approval.status.value}). "
        f"Auto-submit for {agent} is paused until the operator resumes it."
    )
    await record_outcome(
        ctx,
        Outcome(
            agent=agent,
            event="health_rollback",
            event_data={"from": current, "to": deployment.previous},
            notice=Notice(
                "auto_rollback",
                body,
                {
                    "agent": agent,
                    "from": current,
                    "to": deployment.previous,
                    "approval": approval.id,
                    "status": approval.status.value,
                    "crashes": report.crashes_since_apply,
                    "log_tail": report.log_tail[-50:],
                },
            ),
            log_level=logging.WARNING,
            log_line=body,
        ),
    )
