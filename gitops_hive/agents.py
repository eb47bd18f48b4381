"""Lookups every domain module needs: an existing agent, its deployed commit, an approval."""

from __future__ import annotations

from gitops_hive import repos
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import NotFound
from gitops_hive.names import AgentName, validate_name
from gitops_hive.records import Approval
from gitops_hive.store import queries


async def _existing(ctx: HiveContext, raw: str, advice: str) -> AgentName:
    name = validate_name(raw)
    if await queries.get_agent(ctx.db, name) is None:
        raise NotFound(f"no agent {name}: {advice.format(name=name)}")
    return name


async def require_agent(
    ctx: HiveContext, raw_name: str, advice: str = "create it with `hivectl draft {name}`"
) -> AgentName:
    """A valid name of an agent the hive has, else NotFound saying how to create it (the
    operator's words by default; an agent's call passes the tool to use)."""
    return await _existing(ctx, raw_name, advice)


async def require_recipient(
    ctx: HiveContext, raw: str, advice: str = "`hivectl agents` lists them"
) -> AgentName:
    """A valid name of an existing agent, as a message's recipient."""
    return await _existing(ctx, raw, advice)


async def deployed_sha(ctx: HiveContext, name: str) -> str | None:
    """applied.git main: the agent's desired state."""
    return await blocking(repos.get_ref, ctx.layout.agent(name).applied, repos.MAIN)


async def get_approval(ctx: HiveContext, approval_id: int) -> Approval:
    """The approval, else NotFound pointing at the open ones."""
    approval = await queries.get_approval(ctx.db, approval_id)
    if approval is None:
        raise NotFound(f"no approval #{approval_id}: `hivectl pending` lists the open ones")
    return approval
