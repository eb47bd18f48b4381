"""Every SQL statement of the controller, as functions over records."""

from __future__ import annotations

import json
import time
from typing import Any

import aiosqlite

from gitops_hive.errors import IllegalTransition
from gitops_hive.records import (
    AgentRecord,
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Deployment,
    Event,
    can_move,
)
from gitops_hive.store.db import Database

OPEN_STATUSES = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.BUILDING)
OPEN_MARKS = ", ".join("?" * len(OPEN_STATUSES))


def _approval(row: aiosqlite.Row) -> Approval:
    return Approval(
        id=row["id"],
        agent=row["agent"],
        kind=ApprovalKind(row["kind"]),
        head=row["head"],
        base=row["base"],
        status=ApprovalStatus(row["status"]),
        valid=bool(row["valid"]),
        errors=json.loads(row["errors"]),
        created=row["created"],
        source=row["source"],
        rewrites_history=bool(row["rewrites_history"]),
        summary=row["summary"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        reason=row["reason"],
        log=row["log"],
        model_note=row["model_note"],
    )


def _deployment(row: aiosqlite.Row) -> Deployment:
    return Deployment(
        id=row["id"],
        agent=row["agent"],
        approval_id=row["approval_id"],
        sha=row["sha"],
        previous=row["previous"],
        deployed_at=row["deployed_at"],
    )


def _agent(row: aiosqlite.Row) -> AgentRecord:
    return AgentRecord(
        name=row["name"],
        created=row["created"],
        auto_submit=bool(row["auto_submit"]),
        desired=row["desired"],
        last_turn_model=row["last_turn_model"],
        last_turn_at=row["last_turn_at"],
    )


# agents


async def agent_exists(conn: aiosqlite.Connection, name: str) -> bool:
    """Whether the agent is recorded, seen from inside the caller's transaction."""
    cursor = await conn.execute("SELECT 1 FROM agents WHERE name = ?", (name,))
    return await cursor.fetchone() is not None


async def insert_agent(conn: aiosqlite.Connection, name: str) -> None:
    await conn.execute("INSERT INTO agents (name, created) VALUES (?, ?)", (name, time.time()))


async def get_agent(db: Database, name: str) -> AgentRecord | None:
    row = await db.fetchone("SELECT * FROM agents WHERE name = ?", (name,))
    return _agent(row) if row else None


async def list_agents(db: Database) -> list[AgentRecord]:
    return [_agent(r) for r in await db.fetchall("SELECT * FROM agents ORDER BY name")]


async def set_auto_submit(conn: aiosqlite.Connection, name: str, enabled: bool) -> None:
    await conn.execute("UPDATE agents SET auto_submit = ? WHERE name = ?", (int(enabled), name))


async def set_desired(conn: aiosqlite.Connection, name: str, desired: str) -> None:
    """running | stopped: what recovery and the runtime should make of the agent."""
    await conn.execute("UPDATE agents SET desired = ? WHERE name = ?", (desired, name))


async def record_turn_model(conn: aiosqlite.Connection, name: str, model: str, at: float) -> None:
    """The model the agent's last turn really ran with."""
    await conn.execute(
        "UPDATE agents SET last_turn_model = ?, last_turn_at = ? WHERE name = ?", (model, at, name)
    )


# approvals


async def insert_approval(
    conn: aiosqlite.Connection,
    *,
    agent: str,
    kind: ApprovalKind,
    head: str,
    base: str | None,
    valid: bool,
    errors: list[dict[str, Any]],
    source: str,
    rewrites_history: bool,
    summary: str,
    model_note: str | None = None,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO approvals (agent, kind, head, base, status, valid, errors, created, source,"
        " rewrites_history, summary, model_note)"
        " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
        (
            agent,
            kind.value,
            head,
            base,
            int(valid),
            json.dumps(errors),
            time.time(),
            source,
            int(rewrites_history),
            summary,
            model_note,
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def supersede_pending(conn: aiosqlite.Connection, agent: str) -> list[int]:
    """Mark the agent's pending approval superseded; return the ids it touched."""
    cursor = await conn.execute(
        "SELECT id FROM approvals WHERE agent = ? AND status = 'pending'", (agent,)
    )
    ids = [row[0] for row in await cursor.fetchall()]
    await conn.execute(
        "UPDATE approvals SET status = 'superseded', decided_at = ?, decided_by = 'controller',"
        " reason = 'superseded' WHERE agent = ? AND status = 'pending'",
        (time.time(), agent),
    )
    return ids


async def note_superseded_by(conn: aiosqlite.Connection, ids: list[int], by: int) -> None:
    for approval_id in ids:
        await conn.execute(
            "UPDATE approvals SET reason = ? WHERE id = ?", (f"superseded by #{by}", approval_id)
        )


async def transition(
    conn: aiosqlite.Connection,
    approval_id: int,
    old: tuple[ApprovalStatus, ...],
    new: ApprovalStatus,
    **fields: Any,
) -> bool:
    """Move an approval from one of `old` to `new`; False when it was not in `old`.

    A move the state machine does not allow (records.TRANSITIONS) is a bug in the caller;
    `new` among `old` is a resumed step (building again after a restart), not a move.
    """
    illegal = [s.value for s in old if s is not new and not can_move(s, new)]
    if illegal:
        raise IllegalTransition(f"approval #{approval_id}: {'/'.join(illegal)} -> {new.value}")
    sets = ["status = ?"] + [f"{key} = ?" for key in fields]
    marks = ",".join("?" * len(old))
    cursor = await conn.execute(
        f"UPDATE approvals SET {', '.join(sets)} WHERE id = ? AND status IN ({marks})",
        (new.value, *fields.values(), approval_id, *(s.value for s in old)),
    )
    return cursor.rowcount == 1


async def get_approval(db: Database, approval_id: int) -> Approval | None:
    row = await db.fetchone("SELECT * FROM approvals WHERE id = ?", (approval_id,))
    return _approval(row) if row else None


async def list_approvals(
    db: Database, *, agent: str | None = None, statuses: tuple[ApprovalStatus, ...] = ()
) -> list[Approval]:
    clauses, params = [], []
    if agent is not None:
        clauses.append("agent = ?")
        params.append(agent)
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(s.value for s in statuses)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(f"SELECT * FROM approvals {where} ORDER BY id DESC", params)
    return [_approval(r) for r in rows]


async def open_approval(db: Database, agent: str) -> Approval | None:
    """The agent's approval that is pending, approved or building, if any."""
    row = await db.fetchone(
        f"SELECT * FROM approvals WHERE agent = ? AND status IN ({OPEN_MARKS}) "
        "ORDER BY id DESC LIMIT 1",
        (agent, *(s.value for s in OPEN_STATUSES)),
    )
    return _approval(row) if row else None


async def has_approvals(db: Database, agent: str) -> bool:
    """Whether the agent was ever submitted (a draft waits for an explicit submit)."""
    found = await db.fetchone("SELECT 1 FROM approvals WHERE agent = ? LIMIT 1", (agent,))
    return found is not None


async def latest_for_head(db: Database, agent: str, head: str) -> Approval | None:
    row = await db.fetchone(
        "SELECT * FROM approvals WHERE agent = ? AND head = ? ORDER BY id DESC LIMIT 1",
        (agent, head),
    )
    return _approval(row) if row else None


# deployments


async def insert_deployment(
    conn: aiosqlite.Connection, agent: str, approval_id: int, sha: str, previous: str | None
) -> None:
    await conn.execute(
        "INSERT INTO deployments (agent, approval_id, sha, previous, deployed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (agent, approval_id, sha, previous, time.time()),
    )


async def list_deployments(db: Database, agent: str) -> list[Deployment]:
    rows = await db.fetchall("SELECT * FROM deployments WHERE agent = ? ORDER BY id DESC", (agent,))
    return [_deployment(r) for r in rows]


# events


async def insert_event(
    conn: aiosqlite.Connection, kind: str, agent: str | None, data: dict[str, Any]
) -> int:
    cursor = await conn.execute(
        "INSERT INTO events (ts, agent, kind, data) VALUES (?, ?, ?, ?)",
        (time.time(), agent, kind, json.dumps(data)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def list_events(db: Database, agent: str | None = None, limit: int = 100) -> list[Event]:
    where, params = ("WHERE agent = ?", [agent]) if agent else ("", [])
    rows = await db.fetchall(
        f"SELECT * FROM events {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    return [_event(r) for r in rows]


async def last_event_of(db: Database, kinds: tuple[str, ...]) -> list[Event]:
    """Per agent, its newest event of one of `kinds`."""
    marks = ", ".join("?" * len(kinds))
    rows = await db.fetchall(
        f"SELECT * FROM events WHERE id IN (SELECT MAX(id) FROM events WHERE kind IN ({marks})"
        " AND agent IS NOT NULL GROUP BY agent)",
        kinds,
    )
    return [_event(r) for r in rows]


def _event(r: aiosqlite.Row) -> Event:
    return Event(
        id=r["id"], ts=r["ts"], agent=r["agent"], kind=r["kind"], data=json.loads(r["data"])
    )


# uid bases (nspawn)


async def get_uid_base(db: Database, agent: str) -> int | None:
    row = await db.fetchone("SELECT base FROM uid_bases WHERE agent = ?", (agent,))
    return int(row["base"]) if row else None


async def uid_bases_taken(conn: aiosqlite.Connection) -> dict[int, str]:
    """Every allocated base and its agent, read inside the caller's transaction."""
    cursor = await conn.execute("SELECT agent, base FROM uid_bases")
    return {int(base): str(agent) for agent, base in await cursor.fetchall()}


async def insert_uid_base(conn: aiosqlite.Connection, agent: str, base: int) -> None:
    await conn.execute("INSERT INTO uid_bases (agent, base) VALUES (?, ?)", (agent, base))
