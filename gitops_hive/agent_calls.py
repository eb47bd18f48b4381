"""What an agent may ask of the hive through its own socket: the facade the agent API uses.

The caller's identity is the socket it came through, so every call here is made on behalf of
one agent, named when the facade is built.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

from gitops_hive.approvals import manager_requests
from gitops_hive.approvals import views as approval_views
from gitops_hive.context import HiveContext
from gitops_hive.deploy.manager_view import MANAGER_AGENTS_DIR
from gitops_hive.errors import HiveError, SystemLimit
from gitops_hive.messaging import questions, rules
from gitops_hive.messaging.broker import Delivery
from gitops_hive.overrides.effective import current_model
from gitops_hive.protocol import AGENT_ROLE, MANAGER_ROLE, MAX_WAIT_SECONDS, tools_for
from gitops_hive.records import Approval, Message, Question
from gitops_hive.store import queries
from gitops_hive.telemetry import failing
from gitops_hive.telemetry.turns import turn_values

MAX_MODEL_NAME = 100
HAND_BACK_SLACK = 600.0  # seconds beyond the turn limit a failed turn's messages go back


class AgentCreator(Protocol):
    """How new agents are made (the Hive's draft and spawn, which also open their sockets),
    and the agents listed as the Hive lists them (its listing cache)."""

    async def draft(self, name: str) -> dict[str, Any]: ...

    async def spawn(self, name: str, source: str = ...) -> Approval: ...

    async def agents(self) -> list[dict[str, Any]]: ...

    async def receive_push(self, report: Any, pusher: str, by_manager: bool = ...) -> list[str]: ...


@contextmanager
def _room_advice() -> Iterator[None]:
    """The open-files refusal in the manager's terms: only the operator can make room."""
    try:
        yield
    except SystemLimit as exc:
        raise SystemLimit(
            f"{exc.message.split(':')[0]}: no room for another agent; ask the operator "
            "(ask_operator) to raise the controller's open-files limit"
        ) from None


class AgentCalls:
    """The calls one agent's socket serves, made as that agent."""

    def __init__(self, ctx: HiveContext, name: str, creator: AgentCreator) -> None:
        self.ctx = ctx
        self.name = name
        self._creator = creator  # the Hive: a new agent also gets its socket

    async def whoami(self) -> dict[str, Any]:
        """Name, role, manager, whom it may message, the longest recv wait."""
        manager = self.ctx.config.manager
        mine = self.name == manager
        recipients = "*" if mine else list(await rules.allowed_recipients(self.ctx, self.name))
        role = MANAGER_ROLE if mine else AGENT_ROLE
        return {
            "name": self.name,
            "role": role,
            "manager": manager,
            "recipients": recipients,
            "max_wait_seconds": MAX_WAIT_SECONDS,
            "tools": tools_for(role),
        }

    async def model(self) -> str:
        """The model the caller's next turn runs with (asked before every turn: no restart)."""
        return await current_model(self.ctx, self.name)

    async def send(self, raw_to: Any, raw_body: Any) -> Message:
        """A message from this agent, under its recipient list."""
        to = rules.require_text(raw_to, "to")
        text = rules.require_text(raw_body, "body")
        return await rules.send_as_agent(self.ctx, self.name, to, text)

    @asynccontextmanager
    async def receive(self, wait_seconds: Any) -> AsyncIterator[Delivery]:
        """Park until a message lands; they count as read when the block ends cleanly."""
        async with self.ctx.broker.receive(self.name, wait_seconds) as delivery:
            yield delivery

    async def turn_end(self, body: dict[str, Any]) -> int:
        """A TurnEnd (untrusted figures) as stats rows, its error as the agent's failing
        status, its unread messages back in the inbox; returns how many rows were queued."""
        values = turn_values(body)
        model = body.get("model") or None  # "": a turn that never reached a model
        if model is not None and (not isinstance(model, str) or len(model) > MAX_MODEL_NAME):
            raise HiveError(f"model must be a model name of at most {MAX_MODEL_NAME} characters")
        error = failing.turn_error(body)
        returned = failing.returned_ids(body)
        now = time.time()
        self.ctx.stats.add(self.name, now, values)
        # Only what this turn can have taken: never the agent's older history.
        within = float(self.ctx.config["harness.turn_timeout"]) + HAND_BACK_SLACK
        await self.ctx.broker.hand_back(self.name, returned, within)
        await failing.record_turn(self.ctx, self.name, int(values["exit_code"]), error)
        if model is not None:
            async with self.ctx.db.write() as conn:
                await queries.record_turn_model(conn, self.name, model, now)
            self.ctx.bus.publish("model", agent=self.name, model=model)
        return len(values)

    async def failing(self, body: dict[str, Any]) -> None:
        """The harness says why it cannot take a turn (its agent CLI is missing)."""
        reason = failing.turn_error(body, "reason")
        if not reason:
            raise HiveError("reason must say why the agent cannot take a turn")
        await failing.mark_failing(self.ctx, self.name, reason)

    def require_manager(self, tool: str) -> None:
        """Refuse a manager-only tool to anyone else, saying what to do instead."""
        manager_requests.require_manager(self.ctx, self.name, tool)

    async def apply_commit(self, raw_agent: Any, raw_sha: Any) -> Approval:
        """Queue a commit of a deployed agent's proposed/ for the operator."""
        return await manager_requests.apply_commit(self.ctx, self.name, raw_agent, raw_sha)

    async def spawn_commit(self, raw_name: Any, raw_sha: Any) -> Approval:
        """Queue a draft's commit as its spawn."""
        return await manager_requests.spawn_commit(self.ctx, self.name, raw_name, raw_sha)

    async def spawn(self, raw_name: str) -> Approval:
        """Draft from the template and submit at once."""
        with _room_advice():
            return await self._creator.spawn(raw_name, source=f"manager {self.name}")

    async def spawn_draft(self, raw_name: str) -> dict[str, Any]:
        """A new draft: where the manager commits to it and stages its notes, what next."""
        with _room_advice():
            agent = await self._creator.draft(raw_name)
        created = str(agent["name"])
        if self.ctx.runtime.private_users:
            repo = f"{MANAGER_AGENTS_DIR}/{created}/config"
            state = f"{MANAGER_AGENTS_DIR}/{created}/state"
        else:
            repo = str(self.ctx.layout.agent(created).proposed)
            state = str(self.ctx.layout.agent(created).state)
        return {
            "name": created,
            "status": agent["status"],
            "proposed": agent["proposed"],
            "repo": repo,
            "state": state,
            "next": (
                f"commit to {repo} (its notes may go in {state}, yours until its first "
                f"deploy), then call request_spawn_commit({created!r}, 'main')"
            ),
        }

    async def push(self, report: Any) -> list[str]:
        """A push to the manager's own /hive.git, reported by its pre-receive hook."""
        return await self._creator.receive_push(report, f"manager {self.name}", by_manager=True)

    async def ask_operator(self, raw_question: Any, raw_options: Any) -> Question:
        """A question for the operator; the answer comes back as an inbox message."""
        return await questions.ask(self.ctx, self.name, raw_question, raw_options)

    async def agents(self) -> list[dict[str, Any]]:
        """Every agent, trimmed to what the manager acts on."""
        return manager_requests.agents_summary(await self._creator.agents())

    async def pending(self) -> list[dict[str, Any]]:
        """The approvals waiting for the operator."""
        return await approval_views.pending_view(self.ctx)
