"""Agents as `hivectl agents` and the overview list them: status, commits, model; filtered by
status and name, paged, counted per status. What git tells of an agent is kept until its refs
move, so a listing of a thousand agents costs two queries and a few stats per repo."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_hive import repos
from gitops_hive.agents import deployed_sha
from gitops_hive.approvals.proposed_reads import read_proposed, unreadable_reason
from gitops_hive.approvals.rules import AGENT_STATUSES, agent_status
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import HiveError
from gitops_hive.numbers import whole_number
from gitops_hive.overrides.effective import effective_now, model_fields
from gitops_hive.overrides.note import Effective
from gitops_hive.records import AgentRecord
from gitops_hive.store import queries
from gitops_hive.store.listing import ApprovalFacts, approval_facts
from gitops_hive.telemetry.failing import failing_reason

MISSES_AT_ONCE = 16  # git reads in flight when a listing finds many agents not yet known
NO_APPROVALS = ApprovalFacts(None, None)


@dataclass(frozen=True)
class AgentQuery:
    """Which agents a listing shows: a status, a part of the name, a page."""

    status: str | None = None
    name: str | None = None
    offset: int = 0
    limit: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AgentQuery:
        """From ?status=&name=&offset=&limit=; a bad value is one HiveError naming it."""
        status = query.get("status") or None
        if status is not None and status not in AGENT_STATUSES:
            raise HiveError(f"status={status!r} is not one of {', '.join(AGENT_STATUSES)}")
        return cls(status, query.get("name") or None, _count(query, "offset"), _limit(query))

    def matches(self, view: dict[str, Any]) -> bool:
        return (self.status is None or view["status"] == self.status) and (
            self.name is None or self.name.lower() in view["name"]
        )


def _count(query: Mapping[str, str], key: str) -> int:
    raw = query.get(key, "0") or "0"
    count = whole_number(raw)
    if count is None:
        raise HiveError(f"{key}={raw[:40]!r} is not a whole number of agents")
    return count


def _limit(query: Mapping[str, str]) -> int | None:
    if not query.get("limit"):
        return None  # every agent
    limit = _count(query, "limit")
    if limit == 0:
        raise HiveError("limit=0 lists nothing: give 1 or more, or leave it out for all")
    return limit


@dataclass(frozen=True)
class AgentPage:
    """One page of the agents a query matched, how many matched, and counts per status."""

    agents: list[dict[str, Any]]
    matched: int
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"agents": self.agents, "matched": self.matched, "counts": self.counts}


Stamps = tuple[int, repos.RefStamp]  # applied.git's last ref write here, proposed/'s ref files


@dataclass(frozen=True)
class _Applied:
    stamp: int
    deployed: str | None
    model: Effective


class ListingCache:
    """What listings read from git, kept until the refs it came from can have moved: an
    agent's proposed/ head until its ref files' stamp changes (main, packed-refs: anyone may
    write there), applied.git's facts, the deployed commit and the effective model, until this
    process writes one of its refs (it is applied.git's only writer)."""

    def __init__(self) -> None:
        self._proposed: dict[str, tuple[repos.RefStamp, str | None]] = {}
        self._applied: dict[str, _Applied] = {}
        self._git_dirs: dict[str, tuple[str, str]] = {}

    def known(self, name: str, stamps: Stamps) -> tuple[_Applied, str | None] | None:
        """What is kept of the agent, if its refs have not moved since (no await: a listing
        of a thousand agents mostly finds them all)."""
        applied, proposed = self._applied.get(name), self._proposed.get(name)
        if applied is None or proposed is None:
            return None
        if applied.stamp != stamps[0] or proposed[0] != stamps[1]:
            return None
        return applied, proposed[1]

    async def proposed(self, ctx: HiveContext, name: str, stamp: repos.RefStamp) -> str | None:
        known = self._proposed.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        try:
            head = await read_proposed(ctx, name, repos.read_head)
        except HiveError:
            return None  # unreadable: the agent's status says so; read again next time
        # The stamp was taken first: a move while reading leaves a stamp that differs next time.
        self._proposed[name] = (stamp, head)
        return head

    async def applied(self, ctx: HiveContext, name: str, stamp: int) -> _Applied:
        known = self._applied.get(name)
        if known is not None and known.stamp == stamp:
            return known
        deployed = await deployed_sha(ctx, name)
        found = _Applied(stamp, deployed, await effective_now(ctx, name, deployed))
        self._applied[name] = found
        return found

    def names(self) -> list[str]:
        """Every agent whose applied.git and proposed/ facts are both kept."""
        return [name for name in self._applied if name in self._proposed]

    def entries(self) -> list[tuple[str, _Applied, repos.RefStamp, str | None]]:
        """What is kept of each of `names()`, in that order."""
        return [(name, self._applied[name], *self._proposed[name]) for name in self.names()]

    def restore(
        self, name: str, deployed: str | None, model: Effective, proposed: str | None, stamp: Stamps
    ) -> None:
        """Keep what an earlier controller read, its stamps checked by the caller."""
        self._applied[name] = _Applied(stamp[0], deployed, model)
        self._proposed[name] = (stamp[1], proposed)

    def git_dirs(self, ctx: HiveContext, names: Sequence[str]) -> list[tuple[str, str]]:
        """Each agent's applied.git and proposed/.git folders, as strings."""
        for name in names:
            if name not in self._git_dirs:  # a name's paths never change: built once
                agent = ctx.layout.agent(name)
                self._git_dirs[name] = (str(agent.applied), str(agent.proposed_git))
        return [self._git_dirs[name] for name in names]

    def stamps(self, ctx: HiveContext, names: list[str]) -> list[Stamps]:
        """Each agent's applied.git and proposed/ stamps (in a thread: a stat per ref file of
        proposed/, none for applied.git)."""
        dirs = self.git_dirs(ctx, names)
        applied = [repos.last_ref_write(d[0]) for d in dirs]
        proposed = repos.ref_stamps([d[1] for d in dirs], repos.PROPOSED_REFS)
        return list(zip(applied, proposed, strict=True))


async def _views(
    ctx: HiveContext, cache: ListingCache, records: list[AgentRecord]
) -> list[dict[str, Any]]:
    stamps = await blocking(cache.stamps, ctx, [r.name for r in records])
    approvals = await approval_facts(ctx.db)
    limit = asyncio.Semaphore(MISSES_AT_ONCE)

    async def view(record: AgentRecord, stamp: Stamps) -> dict[str, Any]:
        found = cache.known(record.name, stamp)
        if found is None:
            async with limit:
                found = (
                    await cache.applied(ctx, record.name, stamp[0]),
                    await cache.proposed(ctx, record.name, stamp[1]),
                )
        return _view(ctx, record, *found, approvals.get(record.name, NO_APPROVALS))

    known = [cache.known(r.name, s) for r, s in zip(records, stamps, strict=True)]
    if all(k is not None for k in known):  # no await per agent
        return [
            _view(ctx, r, *k, approvals.get(r.name, NO_APPROVALS))
            for r, k in zip(records, known, strict=True)
            if k is not None
        ]
    return list(await asyncio.gather(*(view(r, s) for r, s in zip(records, stamps, strict=True))))


def _view(
    ctx: HiveContext,
    record: AgentRecord,
    applied: _Applied,
    proposed: str | None,
    approvals: ApprovalFacts,
) -> dict[str, Any]:
    name = record.name
    reason = unreadable_reason(ctx, name)
    runtime = ctx.runtime.status(name)
    failing = failing_reason(ctx, name)
    return {
        "name": name,
        "status": agent_status(
            deployed=applied.deployed,
            has_pending=approvals.pending is not None,
            last_status=approvals.last_status,
            runtime_status=runtime.state.value,
            desired=record.desired,
            unreadable=reason is not None,
            failing=failing is not None,
        ),
        "reason": reason,  # why proposed/ cannot be read
        "failing": failing,  # why its turns fail
        "deployed": applied.deployed,
        "proposed": proposed,
        **model_fields(applied.model, record),
        "pending": approvals.pending,
        "auto_submit": record.auto_submit,
        "runtime": runtime.to_json(),
    }


async def agent_view(ctx: HiveContext, cache: ListingCache, name: str) -> dict[str, Any]:
    """One agent as `agents --json` shows it."""
    record = await queries.get_agent(ctx.db, name)
    if record is None:
        raise HiveError(f"no agent {name}")
    return (await _views(ctx, cache, [record]))[0]


async def agents_view(
    ctx: HiveContext, cache: ListingCache, query: AgentQuery | None = None
) -> AgentPage:
    """The agents `query` matches (all, by name, without one), one page of them."""
    query = query or AgentQuery()
    views = await _views(ctx, cache, await queries.list_agents(ctx.db))
    counts = Counter(v["status"] for v in views)
    matched = [v for v in views if query.matches(v)]
    end = None if query.limit is None else query.offset + query.limit
    return AgentPage(
        matched[query.offset : end],
        len(matched),
        {status: counts[status] for status in AGENT_STATUSES},
    )
