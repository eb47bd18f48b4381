"""What only the manager may ask of the hive: propose commits, spawn agents, ask the operator."""

from __future__ import annotations

from typing import Any

from gitops_hive.agents import deployed_sha, require_agent
from gitops_hive.approvals import submit
from gitops_hive.context import HiveContext
from gitops_hive.errors import Conflict, Forbidden, HiveError
from gitops_hive.records import Approval

MAX_REF = 255  # a branch name or a sha, as the manager names a commit
UNKNOWN_AGENT = "list_agents lists the agents; request_spawn_draft({name!r}) creates one"
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


def _commit_ref(raw: Any) -> str:
    """A branch of proposed/ or a sha (resolved by submit, once); only its shape here."""
    if (
        not isinstance(raw, str)
        or not 0 < len(raw) <= MAX_REF
        or not raw.isprintable()
        or raw.startswith("-")
    ):
        raise HiveError(
            f"sha must be a branch of the agent's proposed/ repo (e.g. 'main') or a commit id, "
            f"at most {MAX_REF} printable characters"
        )
    return raw


def submitted(approval: Approval, ref: str | None = None) -> dict[str, Any]:
    """An approval as the manager sees it, with the sha pinned and what happens next."""
    named = f"{ref} resolved to {approval.head}" if ref and ref != approval.head else ""
    pinned = f"Pinned {named or approval.head} for review. "
    return {**approval.to_json(), "next": pinned + AFTER_SUBMIT}


async def apply_commit(ctx: HiveContext, caller: str, raw_agent: Any, raw_ref: Any) -> Approval:
    """Queue a commit (a branch or a sha) of a deployed agent's proposed/ for the operator."""
    name = await require_agent(ctx, str(raw_agent), UNKNOWN_AGENT)
    ref = _commit_ref(raw_ref)
    if await deployed_sha(ctx, name) is None:
        raise Conflict(f"{name} was never deployed: use request_spawn_commit({name!r}, sha)")
    return await submit.submit(ctx, name, ref, source=f"manager {caller}")


async def spawn_commit(ctx: HiveContext, caller: str, raw_name: Any, raw_ref: Any) -> Approval:
    """Queue a draft's commit (a branch or a sha) as its spawn."""
    name = await require_agent(ctx, str(raw_name), UNKNOWN_AGENT)
    ref = _commit_ref(raw_ref)
    if await deployed_sha(ctx, name) is not None:
        raise Conflict(f"{name} already runs: use request_apply_commit({name!r}, sha)")
    return await submit.submit(ctx, name, ref, source=f"manager {caller}")


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
