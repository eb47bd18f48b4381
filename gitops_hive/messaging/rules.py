"""Who may message whom, and sending under that rule."""

from __future__ import annotations

from gitops_hive import repos
from gitops_hive.agents import deployed_sha, require_recipient
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import Forbidden, HiveError
from gitops_hive.protocol import OPERATOR
from gitops_hive.records import Message
from gitops_hive.spec import validate_spec


async def allowed_recipients(ctx: HiveContext, agent: str) -> tuple[str, ...]:
    """`[messaging] recipients` of the agent's deployed agent.toml (none before a deploy)."""
    sha = await deployed_sha(ctx, agent)
    if sha is None:
        return ()
    text = await blocking(repos.read_blob, ctx.layout.agent(agent).applied, sha, "agent.toml")
    if text is None:
        return ()
    spec, _ = validate_spec(text.decode("utf-8", "replace"))
    return spec.recipients if spec else ()


async def check_may_message(ctx: HiveContext, sender: str, recipient: str) -> None:
    """Refuse unless the sender is the manager or lists the recipient in its deployed spec."""
    if sender == ctx.config.manager:
        return
    if recipient not in await allowed_recipients(ctx, sender):
        raise Forbidden(
            f"{sender} may not message {recipient}: only agents in [messaging] recipients of "
            f"{sender}'s deployed agent.toml; ask the manager ({ctx.config.manager}) to add it"
        )


async def send_as_agent(ctx: HiveContext, sender: str, raw_to: str, body: str) -> Message:
    """A message from an agent, under its recipient list."""
    mine = sender == ctx.config.manager
    advice = "list_agents lists them" if mine else "whoami lists whom you may message"
    recipient = await require_recipient(ctx, raw_to, advice)
    await check_may_message(ctx, sender, recipient)
    return await ctx.broker.send(sender, recipient, body)


async def send_as_operator(ctx: HiveContext, raw_to: str, body: str) -> Message:
    """A message from the operator: any agent may get one."""
    recipient = await require_recipient(ctx, raw_to)
    return await ctx.broker.send(OPERATOR, recipient, body)


def require_text(value: object, what: str) -> str:
    """A non-empty string from a request, else an error naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise HiveError(f"{what} must be a non-empty string")
    return value
