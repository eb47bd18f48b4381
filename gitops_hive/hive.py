"""The composition root: builds the context and exposes every controller operation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from gitops_hive import drafting, lifecycle, listing, listing_snapshot
from gitops_hive.agent_calls import AgentCalls
from gitops_hive.agent_files import AgentFiles
from gitops_hive.agents import require_agent, require_recipient
from gitops_hive.approvals import rescan as rescans
from gitops_hive.approvals import submit as submissions
from gitops_hive.approvals import views as approval_views
from gitops_hive.approvals.decide import deny
from gitops_hive.assembly import open_context
from gitops_hive.config import HiveConfig
from gitops_hive.context import HiveContext
from gitops_hive.deploy.build import approve
from gitops_hive.deploy.health import record_crash
from gitops_hive.deploy.recovery import converge
from gitops_hive.deploy.rollback import resume, rollback
from gitops_hive.deploy.uids import agent_uid
from gitops_hive.diffs import ProposalDiff
from gitops_hive.errors import HiveError
from gitops_hive.layout import AgentLayout, HiveLayout
from gitops_hive.messaging import questions, rules
from gitops_hive.messaging.broker import Delivery
from gitops_hive.overrides.effective import model_history, model_status
from gitops_hive.overrides.switching import set_override
from gitops_hive.pushes.receive import receive_push
from gitops_hive.records import Approval, Deployment, Message, Question
from gitops_hive.runtime.base import CrashHandler, CrashReport
from gitops_hive.sessions import OperatorSessions
from gitops_hive.store import queries
from gitops_hive.telemetry import failing
from gitops_hive.telemetry import views as stats_view
from gitops_hive.telemetry.retention import Retention
from gitops_hive.telemetry.sampler import StatsSampler
from gitops_hive.terminals.sessions import TerminalBook

log = logging.getLogger(__name__)
RETENTION_EVERY = 300.0  # seconds between telemetry retention passes


class Hive:
    """Every operation hivectl, the dashboard and the agents' sockets can ask of the controller."""

    def __init__(self, ctx: HiveContext) -> None:
        self.ctx = ctx
        self.listing = listing.ListingCache()  # what agent listings read from git, kept
        self.on_agent_created: list[Callable[[str], Awaitable[None]]] = []
        config = ctx.config
        self.sampler = StatsSampler(ctx.db, ctx.stats, interval=config["telemetry.sample_interval"])
        self.retention = Retention.from_config(ctx.db, config, RETENTION_EVERY)
        self._components = contextlib.AsyncExitStack()
        self.sessions = OperatorSessions(ctx)  # the dashboard's logins
        self.terminals = TerminalBook(ctx)  # the operator's terminals into the agents
        self.files = AgentFiles(ctx)  # agents' logs read from their end, hooks written again

    @classmethod
    async def open(cls, layout: HiveLayout, config: HiveConfig) -> Hive:
        """Open the db, build the runtime hive.toml asks for, start the background work."""
        async with contextlib.AsyncExitStack() as stack:
            hive = await cls._assemble(stack, layout, config)
            await listing_snapshot.restore_saved(hive.ctx, hive.listing)  # before anyone lists
            hive._components = stack.pop_all()  # from here on, close() undoes it
        return hive

    @classmethod
    async def _assemble(
        cls, stack: contextlib.AsyncExitStack, layout: HiveLayout, config: HiveConfig
    ) -> Hive:
        """The context's parts (`assembly.py`), then the hive's own background work."""
        crash_handlers: list[CrashHandler] = []
        ctx = await open_context(stack, layout, config, crash_handlers)
        hive = cls(ctx)
        stack.push_async_callback(hive.terminals.end, "the controller is stopping")
        crash_handlers.append(hive.record_crash)
        ctx.broker.on_wake.append(hive.sampler.inbox_changed)
        ctx.bus.listen(hive.sampler.on_notice)
        hive.retention.start()
        stack.push_async_callback(hive.retention.close)
        hive.sampler.start()
        stack.push_async_callback(hive.sampler.close)
        return hive

    async def start(self, wait: bool = True) -> None:
        """Converge after a restart: adopt, run desired state, resume builds, rescan refs
        (without `wait`, all but adopting in the background: the controller answers sooner)."""
        await drafting.adopt_orphans(self.ctx)
        await failing.restore_failing(self.ctx)
        converging = self.ctx.spawn_task(converge(self.ctx, self.rescan))
        if wait:
            await converging

    async def close(self) -> None:
        """Save the listing; stop the background work, the agents, the stats writer, the db."""
        await listing_snapshot.save_quietly(self.ctx, self.listing)
        await self._components.aclose()

    def release_waiters(self) -> None:
        """Answer every parked recv now (with nothing): the controller is stopping."""
        self.ctx.broker.close()

    def limit_agents(self, most: int) -> None:
        """Refuse a draft past `most` agents (what the controller's open files allow)."""
        self.ctx.max_agents = most

    def watch_agents(self, callback: Callable[[str], None]) -> None:
        """Call `callback(name)` whenever an agent is created (the ref watcher watches it)."""
        self.ctx.on_agent_added = callback

    @property
    def root(self) -> Path:
        return self.ctx.layout.root

    def agent_layout(self, name: str) -> AgentLayout:
        """The agent's paths, from its validated name."""
        return self.ctx.layout.agent(name)

    async def agent_names(self) -> list[str]:
        """Every agent the hive has, drafts included."""
        return [record.name for record in await queries.list_agents(self.ctx.db)]

    async def agent_uid(self, name: str) -> int:
        """The host uid the agent's processes run as (its socket belongs to it)."""
        return await agent_uid(self.ctx, name)

    def agent_calls(self, name: str) -> AgentCalls:
        """What `name` may ask through its own socket, as `name`."""
        return AgentCalls(self.ctx, name, self)

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[dict[str, Any]]]:
        """A queue of change notices for a live page."""
        return self.ctx.bus.subscribe()

    async def record_crash(self, report: CrashReport) -> None:
        await self.terminals.end(f"{report.agent} exited ({report.returncode})", agent=report.agent)
        await record_crash(self.ctx, report)

    async def rescan(self, name: str, *, moved_only: bool = False) -> Approval | None:
        """Submit the agent's proposed/ head if the rule says so; `moved_only` (the watcher,
        a hook's ping): only if its ref files moved since the last rescan."""
        try:
            return await rescans.rescan(self.ctx, name, moved_only=moved_only)
        except HiveError as exc:
            log.warning("agent %s: auto-submit failed: %s", name, exc.message)
            return None
        except Exception:  # one agent's repo must never stop the watcher for every agent
            log.exception("agent %s: auto-submit failed", name)
            return None

    async def _created(self, name: str) -> None:
        for hook in self.on_agent_created:
            await hook(name)

    async def draft(self, name: str) -> dict[str, Any]:
        created = await drafting.draft(self.ctx, name)
        await self._created(created)
        return await listing.agent_view(self.ctx, self.listing, created)

    async def spawn(self, name: str, source: str = "spawn") -> Approval:
        created = await drafting.draft(self.ctx, name)
        await self._created(created)
        return await submissions.submit(self.ctx, created, None, source=source)

    async def submit(self, name: str, ref: str | None, source: str) -> Approval:
        return await submissions.submit(self.ctx, name, ref, source=source)

    async def approve(self, approval_id: int, sha: str, who: str, wait: bool = True) -> Approval:
        return await approve(self.ctx, approval_id, sha, who, wait=wait)

    async def deny(self, approval_id: int, reason: str | None, who: str) -> Approval:
        return await deny(self.ctx, approval_id, reason, who)

    async def receive_push(self, report: Any, pusher: str, by_manager: bool = False) -> list[str]:
        """A push its pre-receive hook reported: the lines the pusher sees (or a refusal)."""
        return await receive_push(self.ctx, report, pusher, by_manager, self._created)

    async def rollback(self, name: str, to: str | None, who: str) -> Approval:
        return await rollback(self.ctx, name, to, who)

    async def resume(self, name: str) -> Approval | None:
        await resume(self.ctx, name)
        return await self.rescan(name)

    async def agents(self, query: listing.AgentQuery | None = None) -> list[dict[str, Any]]:
        """The agents `query` matches (every one without it), as `agents --json` lists them."""
        return (await self.agent_page(query)).agents

    async def agent_page(self, query: listing.AgentQuery | None = None) -> listing.AgentPage:
        """A page of the agents `query` matches, how many matched, counts per status."""
        return await listing.agents_view(self.ctx, self.listing, query)

    async def agent(self, name: str) -> dict[str, Any]:
        await require_agent(self.ctx, name)
        detail = await listing.agent_view(self.ctx, self.listing, name)
        detail["log_tail"] = self.ctx.runtime.logs(name, 50)
        return detail

    async def deployments(self, name: str) -> list[Deployment]:
        """The agent's deployments, newest first."""
        return await queries.list_deployments(self.ctx.db, await require_agent(self.ctx, name))

    async def pending(self) -> list[dict[str, Any]]:
        return await approval_views.pending_view(self.ctx)

    async def history(self, name: str, with_model: bool = True) -> list[dict[str, Any]]:
        return await approval_views.history_view(self.ctx, name, with_model=with_model)

    async def approval(self, approval_id: int) -> dict[str, Any]:
        return await approval_views.approval_view(self.ctx, approval_id)

    async def diff_base(self, approval_id: int, base: str) -> str | None:
        """The commit `base` (deployed, approved, previous) names for this approval."""
        return await approval_views.resolve_base(self.ctx, approval_id, base)

    async def diff(
        self,
        approval_id: int,
        base: str,
        view: approval_views.DiffView = "patch",
        paths: Sequence[str] = (),
    ) -> ProposalDiff:
        """An approval's diff, as much of it as `view` shows; with `paths`, those files."""
        return await approval_views.diff_view(self.ctx, approval_id, base, view, paths)

    async def stop(self, name: str, who: str) -> dict[str, Any]:
        await lifecycle.stop(self.ctx, name, who)
        await self.terminals.end(f"{name} was stopped by {who}", agent=name)
        return await self.agent(name)

    async def start_agent(self, name: str, who: str) -> dict[str, Any]:
        await lifecycle.start(self.ctx, name, who)
        return await self.agent(name)

    async def send(self, to: str, body: str) -> Message:
        """A message from the operator."""
        return await rules.send_as_operator(self.ctx, to, body)

    async def peek_inbox(self, name: str, wait_seconds: Any) -> Delivery:
        """The operator's view of an inbox: unread messages, left unread."""
        recipient = await require_recipient(self.ctx, name)
        return await self.ctx.broker.peek(recipient, wait_seconds)

    async def model(self, name: str) -> dict[str, Any]:
        """The agent's effective model, its source, active or queued, and its switches."""
        status = await model_status(self.ctx, name)
        return {**status, "history": await model_history(self.ctx, name)}

    async def set_model(
        self, name: str, model: str | None, reason: str | None, who: str
    ) -> dict[str, Any]:
        """The operator's override (model None: clear it), as a note on the deployed commit."""
        await set_override(self.ctx, name, model, reason, who)
        return await self.model(name)

    async def questions(self, open_only: bool, limit: int | None = None) -> list[Question]:
        return await questions.listing(self.ctx, open_only=open_only, limit=limit)

    async def answer(self, question_id: int, text: Any, who: str) -> Question:
        return await questions.answer(self.ctx, question_id, text, who)

    async def stats(self, query: stats_view.StatsQuery, now: float) -> dict[str, Any]:
        """One agent's telemetry over a window (GET /api/stats)."""
        return await stats_view.stats_view(self.ctx, query, now)

    async def stats_line(self, name: str, now: float) -> dict[str, Any]:
        """One agent's sparkline, last turn and stuck flag (the overview)."""
        return await stats_view.overview_line(self.ctx, name, now)
