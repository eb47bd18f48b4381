"""The composition root: builds the context and exposes every controller operation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gitops_hive import drafting, lifecycle
from gitops_hive import listing as views
from gitops_hive.approvals import submit as submissions
from gitops_hive.config import HiveConfig
from gitops_hive.context import HiveContext
from gitops_hive.deploy import build as deploys
from gitops_hive.deploy import health as crashes
from gitops_hive.diffs import ProposalDiff
from gitops_hive.errors import HiveError
from gitops_hive.layout import HiveLayout
from gitops_hive.messaging import questions
from gitops_hive.messaging import rules as messaging
from gitops_hive.messaging.broker import Broker, Delivery
from gitops_hive.overrides import models
from gitops_hive.records import Approval, Message, Question
from gitops_hive.runtime.base import CrashHandler, CrashReport
from gitops_hive.runtime.registry import make_runtime
from gitops_hive.store import Database, queries
from gitops_hive.store.stats_writer import StatsWriter
from gitops_hive.telemetry import views as stats_view
from gitops_hive.telemetry.retention import Retention
from gitops_hive.telemetry.sampler import StatsSampler
from gitops_hive.telemetry.views import StatsQuery

log = logging.getLogger(__name__)
RETENTION_EVERY = 300.0  # seconds between telemetry retention passes


class Hive:
    """Every operation hivectl and the dashboard can ask of the controller."""

    def __init__(self, ctx: HiveContext) -> None:
        self.ctx = ctx
        self.on_agent_created: list[Callable[[str], Awaitable[None]]] = []
        config = ctx.config
        self.sampler = StatsSampler(ctx.db, ctx.stats, interval=config["telemetry.sample_interval"])
        self.retention = Retention(
            ctx.db,
            raw_retention=config["telemetry.raw_retention"],
            rollup_retention=config["telemetry.rollup_retention"],
            width=config["telemetry.rollup_bucket"],
            every=RETENTION_EVERY,
        )

    @classmethod
    async def open(cls, layout: HiveLayout, config: HiveConfig) -> Hive:
        """Open the db and build the runtime hive.toml asks for."""
        db = await Database.open(layout.db)
        crash_handlers: list[CrashHandler] = []

        async def on_crash(report: CrashReport) -> None:
            for handler in crash_handlers:
                await handler(report)

        runtime = make_runtime(config, on_crash)
        broker = Broker(
            db,
            max_body_bytes=config["limits.message_bytes"],
            max_inbox=config["limits.inbox_depth"],
        )
        writer = StatsWriter(db)
        ctx = HiveContext(
            layout=layout, config=config, db=db, runtime=runtime, broker=broker, stats=writer
        )
        writer.on_flush = lambda agents: ctx.bus.publish("stats", agents=sorted(agents))
        hive = cls(ctx)
        crash_handlers.append(hive.record_crash)
        broker.on_wake.append(hive.sampler.inbox_changed)
        ctx.bus.listen(hive.sampler.on_notice)
        writer.start()
        hive.sampler.start()
        hive.retention.start()
        return hive

    async def start(self) -> None:
        """Converge after a restart: adopt, run desired state, resume builds, rescan refs."""
        await drafting.adopt_orphans(self.ctx)
        await deploys.recover(self.ctx)
        for record in await queries.list_agents(self.ctx.db):
            await self.rescan(record.name)

    async def close(self) -> None:
        await self.sampler.close()
        await self.retention.close()
        for task in list(self.ctx.tasks):
            task.cancel()
        await asyncio.gather(*self.ctx.tasks, return_exceptions=True)
        await self.ctx.runtime.close()
        await self.ctx.stats.close()
        await self.ctx.db.close()

    async def record_crash(self, report: CrashReport) -> None:
        await crashes.record_crash(self.ctx, report)

    async def rescan(self, name: str) -> Approval | None:
        try:
            return await submissions.rescan(self.ctx, name)
        except HiveError as exc:
            log.warning("agent %s: auto-submit failed: %s", name, exc.message)
            return None

    async def _created(self, name: str) -> None:
        for hook in self.on_agent_created:
            await hook(name)

    async def draft(self, name: str) -> dict[str, Any]:
        created = await drafting.draft(self.ctx, name)
        await self._created(created)
        return await views.agent_view(self.ctx, created)

    async def spawn(self, name: str, source: str = "spawn") -> Approval:
        created = await drafting.draft(self.ctx, name)
        await self._created(created)
        return await submissions.submit(self.ctx, created, None, source=source)

    async def submit(self, name: str, ref: str | None, source: str) -> Approval:
        return await submissions.submit(self.ctx, name, ref, source=source)

    async def approve(self, approval_id: int, sha: str, who: str, wait: bool = True) -> Approval:
        return await deploys.approve(self.ctx, approval_id, sha, who, wait=wait)

    async def deny(self, approval_id: int, reason: str | None, who: str) -> Approval:
        return await deploys.deny(self.ctx, approval_id, reason, who)

    async def rollback(self, name: str, to: str | None, who: str) -> Approval:
        return await deploys.rollback(self.ctx, name, to, who)

    async def resume(self, name: str) -> Approval | None:
        await deploys.resume(self.ctx, name)
        return await self.rescan(name)

    async def agents(self) -> list[dict[str, Any]]:
        return await views.agents_view(self.ctx)

    async def agent(self, name: str) -> dict[str, Any]:
        await submissions.require_agent(self.ctx, name)
        detail = await views.agent_view(self.ctx, name)
        detail["log_tail"] = self.ctx.runtime.logs(name, 50)
        return detail

    async def pending(self) -> list[dict[str, Any]]:
        return await views.pending_view(self.ctx)

    async def history(self, name: str) -> list[dict[str, Any]]:
        return await views.history_view(self.ctx, name)

    async def approval(self, approval_id: int) -> dict[str, Any]:
        return await views.approval_view(self.ctx, approval_id)

    async def diff(self, approval_id: int, base: str) -> ProposalDiff:
        return await views.diff_view(self.ctx, approval_id, base)

    async def stop(self, name: str, who: str) -> dict[str, Any]:
        await lifecycle.stop(self.ctx, name, who)
        return await self.agent(name)

    async def start_agent(self, name: str, who: str) -> dict[str, Any]:
        await lifecycle.start(self.ctx, name, who)
        return await self.agent(name)

    async def send(self, to: str, body: str) -> Message:
        """A message from the operator."""
        return await messaging.send_as_operator(self.ctx, to, body)

    async def peek_inbox(self, name: str, wait_seconds: Any) -> Delivery:
        """The operator's view of an inbox: unread messages, left unread."""
        recipient = await messaging.require_recipient(self.ctx, name)
        return await self.ctx.broker.peek(recipient, wait_seconds)

    async def model(self, name: str) -> dict[str, Any]:
        """The agent's effective model, its source, active or queued, and its switches."""
        status = await models.model_status(self.ctx, name)
        return {**status, "history": await models.model_history(self.ctx, name)}

    async def set_model(
        self, name: str, model: str | None, reason: str | None, who: str
    ) -> dict[str, Any]:
        """The operator's override (model None: clear it), as a note on the deployed commit."""
        await models.set_override(self.ctx, name, model, reason, who)
        return await self.model(name)

    async def questions(self, open_only: bool) -> list[Question]:
        return await questions.listing(self.ctx, open_only=open_only)

    async def answer(self, question_id: int, text: Any, who: str) -> Question:
        return await questions.answer(self.ctx, question_id, text, who)

    async def stats(self, query: StatsQuery, now: float) -> dict[str, Any]:
        """One agent's telemetry over a window (GET /api/stats)."""
        return await stats_view.stats_view(self.ctx, query, now)

    async def stats_line(self, name: str, now: float) -> dict[str, Any]:
        """One agent's sparkline, last turn and stuck flag (the overview)."""
        return await stats_view.overview_line(self.ctx, name, now)
