"""Stopping and starting an agent by hand; its repos, state and inbox stay as they are."""

from __future__ import annotations

import logging

from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.context import HiveContext
from gitops_hive.deploy.launch import start_commit
from gitops_hive.errors import Conflict
from gitops_hive.runtime.base import AgentState
from gitops_hive.store import queries

log = logging.getLogger(__name__)


async def stop(ctx: HiveContext, raw_name: str, who: str) -> None:
    """Stop the agent and keep it stopped, across controller restarts, until start."""
    name = await require_agent(ctx, raw_name)
    async with ctx.build_locks(name):
        async with ctx.db.write() as conn:
            await queries.set_desired(conn, name, "stopped")
            await queries.insert_event(conn, "agent_stopped", name, {"by": who})
        await ctx.runtime.stop(name)
    ctx.bus.publish("agent", agent=name)
    log.info("agent %s: stopped by %s", name, who)


async def start(ctx: HiveContext, raw_name: str, who: str) -> None:
    """Run the deployed commit again; a draft has nothing to start."""
    name = await require_agent(ctx, raw_name)
    async with ctx.build_locks(name):
        sha = await deployed_sha(ctx, name)
        if sha is None:
            raise Conflict(
                f"{name} was never deployed: approve its spawn first (`hivectl pending`)"
            )
        running = ctx.runtime.status(name)
        if running.sha != sha or running.state is not AgentState.RUNNING:
            await start_commit(ctx, name, sha)
        async with ctx.db.write() as conn:
            await queries.set_desired(conn, name, "running")
            await queries.insert_event(conn, "agent_started", name, {"by": who, "sha": sha})
    ctx.bus.publish("agent", agent=name)
    log.info("agent %s: started %s by %s", name, sha, who)
