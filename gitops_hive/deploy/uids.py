"""Host uid ranges for agents in containers, kept in the db (the pool itself: runtime.uidpool)."""

from __future__ import annotations

import os

from gitops_hive.context import HiveContext
from gitops_hive.runtime import uidpool
from gitops_hive.store import queries


async def uid_base(ctx: HiveContext, agent: str) -> int:
    """The agent's base uid, allocated from hive.toml's pool on first use and kept in the db."""
    known = await queries.get_uid_base(ctx.db, agent)
    if known is not None:
        return known
    start = int(ctx.config["nspawn.uid_pool_start"])
    size = int(ctx.config["nspawn.uid_pool_size"])
    async with ctx.db.write() as conn:
        taken = await queries.uid_bases_taken(conn)
        mine = [base for base, name in taken.items() if name == agent]
        if mine:
            return mine[0]
        free = uidpool.free_base(taken, start, size)
        await queries.insert_uid_base(conn, agent, free)
    return free


async def agent_uid(ctx: HiveContext, agent: str) -> int:
    """The host uid the agent's processes run as: its base under nspawn, else ours."""
    if ctx.runtime.private_users:
        return await uid_base(ctx, agent)
    return os.getuid()
