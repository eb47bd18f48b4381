"""What only the manager may ask of the hive: propose commits, spawn agents, ask the operator."""

from __future__ import annotations

import re
from typing import Any

from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.approvals import submit
from gitops_hive.context import HiveContext
from gitops_hive.errors import Conflict, Forbidden, HiveError
from gitops_hive.records import Approval

SHA_ARGUMENT = re.compile(r"^[0-9a-f]{7,40}$")
AFTER_SUBMIT = (
    "The operator reviews it; the outcome arrives in your inbox as an approval_deployed, "
    "approval_denied or approval_failed message."
)


def require_manager(ctx: HiveContext, caller: str, tool: str) -> None:
    """Refuse a manager-only tool to anyone else, saying what to do instead."""
    if caller != ctx.config.manager:
        raise Forbidden(
            f"{tool} is for the manager only; send your request to the manager "
            f"({ctx.config.manager}) with send(to={ctx.config.manager!r}, body=...)"
        )


def _sha(raw: Any) -> str:
    if not isinstance(raw, str) or not SHA_ARGUMENT.match(raw):
        raise HiveError("sha must be a commit id of 7 to 40 lowercase hex digits from proposed/")
    return raw


def submitted(approval: Approval) -> dict[str, Any]:
    """An approval as the manager sees it, with what happens next."""
    return {**approval.to_json(), "next": AFTER_SUBMIT}


async def apply_commit(ctx: HiveContext, caller: str, raw_agent: Any, raw_sha: Any) -> Approval:
    """Queue a commit of a deployed agent's proposed/ for the operator."""
    name = await require_agent(ctx, str(raw_agent))
    sha = _sha(raw_sha)
    if await deployed_sha(ctx, name) is None:
        raise Conflict(f"{name} was never deployed: use request_spawn_commit({name!r}, sha)")
    return await submit.submit(ctx, name, sha, source=f"manager {caller}")


async def spawn_commit(ctx: HiveContext, caller: str, raw_name: Any, raw_sha: Any) -> Approval:
    """Queue a draft's commit as its spawn."""
    name = await require_agent(ctx, str(raw_name))
    sha = _sha(raw_sha)
    if await deployed_sha(ctx, name) is not None:
        raise Conflict(f"{name} already runs: use request_apply_commit({name!r}, sha)")
    return await submit.submit(ctx, name, sha, source=f"manager {caller}")


def agents_summary(agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every agent as listed, trimmed to what the manager acts on."""
    keys = (
        "name",
        "status",
        "deployed",
        "proposed",
        "model",
        "model_source",
        "model_state",
        "pending",
    )
    return [{k: a[k] for k in keys} for a in agents]
