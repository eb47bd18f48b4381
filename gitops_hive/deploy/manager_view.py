"""The manager's /agents under private users: every other agent's repo and state, kept live.

Laid out when the manager's container launches and changed while it runs: a draft appears
the moment it is made, its state the manager's to write (notes to start it with) until the
agent's own container first takes it; from then on that state is read-only in the view.
"""

from __future__ import annotations

import os

from gitops_hive.agents import deployed_sha
from gitops_hive.context import HiveContext, blocking
from gitops_hive.deploy import uids
from gitops_hive.runtime.agents_view import AgentsView
from gitops_hive.runtime.base import Bind
from gitops_hive.store import queries

MANAGER_AGENTS_DIR = "/agents"  # inside the manager's container: NAME/config, NAME/state


async def lay_out(ctx: HiveContext) -> Bind:
    """A fresh view of every other agent, and the bind that puts it at /agents."""
    manager = ctx.layout.agent(ctx.config.manager)
    folder, staging = manager.run / "agents-view", manager.run / "agents-staging"
    view = ctx.agents_view or AgentsView(folder, staging, ctx.runtime.mount_namespace)
    await blocking(view.reset)
    ctx.agents_view = view
    for record in await queries.list_agents(ctx.db):
        await show(ctx, record.name)
    return Bind(view.folder, MANAGER_AGENTS_DIR, writable=True)


async def show(ctx: HiveContext, name: str, *, launching: bool = False) -> None:
    """`name`'s entry in the view, if the manager's container has one; `launching`: the
    agent's own container is about to take its state, so the view's copy turns read-only."""
    view = ctx.agents_view
    if view is None or name == ctx.config.manager:
        return
    agent = ctx.layout.agent(name)
    manager_base = await uids.uid_base(ctx, ctx.config.manager)
    own = await uids.uid_base(ctx, name)
    never_launched = (await blocking(os.lstat, agent.state)).st_uid != own
    writable = not launching and never_launched and await deployed_sha(ctx, name) is None
    await blocking(
        lambda: view.show(
            name,
            agent.proposed,
            agent.state,
            manager_uid=manager_base,
            state_writable=writable,
        )
    )


async def close(ctx: HiveContext) -> None:
    """Undo the view's mounts (the controller is stopping)."""
    if ctx.agents_view is not None:
        await blocking(ctx.agents_view.close)
        ctx.agents_view = None
