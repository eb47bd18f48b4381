"""Creating an agent on disk: proposed/ from the template, applied.git, state/, run/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from gitops_hive import repos
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy import manager_view
from gitops_hive.errors import Conflict, HiveError, SystemLimit
from gitops_hive.layout import UNIX_PATH_MAX
from gitops_hive.names import AgentName, validate_name
from gitops_hive.resources import template_files
from gitops_hive.store import queries

# Builds a new agent's proposed/ at the path given (a staging folder); raising refuses the draft.
ProposedMaker = Callable[[Path], Awaitable[None]]


def _start_staging(staging: Path) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)


def _finish_agent_dir(ctx: HiveContext, name: AgentName, staging: Path) -> None:
    final = ctx.layout.agent(name)
    repos.write_hooks(staging / "proposed", name, ctx.layout.notify_socket)
    repos.init_applied(staging / final.applied.name)
    (staging / final.state.name).mkdir(mode=0o700)
    (staging / final.run.name).mkdir(mode=0o700)


def from_template(ctx: HiveContext, name: AgentName) -> ProposedMaker:
    """proposed/ as the shipped template makes it, with one commit."""

    async def make(path: Path) -> None:
        files = template_files(name, ctx.config.manager)
        await blocking(repos.init_proposed, path, files, f"Draft {name} from template")

    return make


def _check_room(ctx: HiveContext) -> None:
    """Every agent costs the controller open files (its socket, its connections): refuse
    one the limit has no room for, before the hive runs out for all of them."""
    most = ctx.max_agents
    if most is not None and len(ctx.layout.existing_agents()) >= most:
        raise SystemLimit(
            f"the hive has {most} agents, the most the controller's open-files limit has "
            "room for: raise it (`ulimit -n`, or LimitNOFILE= in the unit) and restart "
            "`hivectl serve`, or lower limits.agent_connections"
        )


async def draft(
    ctx: HiveContext, raw_name: str, make: ProposedMaker | None = None, how: str = "template"
) -> AgentName:
    """Create a draft agent, atomically: either all of it exists afterwards, or none. Its
    proposed/ comes from `make` (default: the template); `how` goes in its event."""
    name = validate_name(raw_name)
    agent = ctx.layout.agent(name)
    if len(os.fsencode(agent.socket)) > UNIX_PATH_MAX:
        raise HiveError(
            f"{agent.socket} would be over the {UNIX_PATH_MAX} bytes a unix socket path "
            "allows: pick a shorter name or a hive root with a shorter path"
        )
    async with ctx.submit_locks(name):
        if agent.dir.exists() or await queries.get_agent(ctx.db, name):
            raise Conflict(f"agent {name} already exists")
        _check_room(ctx)
        staging = ctx.layout.staging_dir(name)
        try:
            await blocking(_start_staging, staging)
            await (make or from_template(ctx, name))(staging / "proposed")
            await blocking(_finish_agent_dir, ctx, name, staging)
            async with ctx.db.write() as conn:
                await queries.insert_agent(conn, name)
                await queries.insert_event(conn, "agent_drafted", name, {"from": how})
                os.rename(staging, agent.dir)
        finally:
            if staging.exists():
                await blocking(shutil.rmtree, staging)
    ctx.on_agent_added(name)
    await manager_view.show(ctx, name)  # in the manager's running container at once
    ctx.bus.publish("agent", agent=name)
    return name


async def adopt_orphans(ctx: HiveContext) -> list[str]:
    """After a crash: record agent folders the db lacks, and drop half-built ones."""
    adopted: list[str] = []
    if ctx.layout.agents_dir.is_dir():
        for entry in ctx.layout.agents_dir.iterdir():
            if entry.name.startswith(".new-"):
                await blocking(shutil.rmtree, entry)
    for name in ctx.layout.existing_agents():
        if await queries.get_agent(ctx.db, name) is None:
            async with ctx.db.write() as conn:
                await queries.insert_agent(conn, name)
            adopted.append(name)
    return adopted
