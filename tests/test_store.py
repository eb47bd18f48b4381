"""The sqlite store on a real file: pragmas, migrations, the one write path, every query."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.errors import IllegalTransition
from gitops_hive.records import ApprovalKind, ApprovalStatus
from gitops_hive.store import queries
from gitops_hive.store.db import MIGRATIONS, Database

S = ApprovalStatus
HEAD_A = "a" * 40
HEAD_B = "b" * 40
HEAD_C = "c" * 40


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "hive.db")
    try:
        async with database.write() as conn:
            await queries.insert_agent(conn, "worker")
            await queries.insert_agent(conn, "other")
        yield database
    finally:
        await database.close()


async def add_approval(
    db: Database, agent: str = "worker", head: str = HEAD_A, **extra: Any
) -> int:
    fields: dict[str, Any] = {
        "agent": agent,
        "kind": ApprovalKind.APPLY,
        "head": head,
        "base": None,
        "valid": True,
        "errors": [],
        "source": "test",
        "rewrites_history": False,
        "summary": "a change",
    }
    fields.update(extra)
    async with db.write() as conn:
        return await queries.insert_approval(conn, **fields)


async def status_of(db: Database, approval_id: int) -> ApprovalStatus:
    approval = await queries.get_approval(db, approval_id)
    assert approval is not None
    return approval.status


# the file and its connections


async def test_pragmas_are_set_on_the_writer_and_the_reader(db: Database) -> None:
    async with db.write() as conn:
        writer = {}
        for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            cursor = await conn.execute(f"PRAGMA {pragma}")
            row = await cursor.fetchone()
            assert row is not None
            writer[pragma] = row[0]
    reader = {}
    for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
        row = await db.fetchone(f"PRAGMA {pragma}")
        assert row is not None
        reader[pragma] = row[0]
    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 10000}
    assert writer == expected
    assert reader == expected


async def test_the_file_is_in_wal_mode_for_any_later_connection(
    db: Database, tmp_path: Path
) -> None:
    # journal_mode=WAL is persistent: a plain sqlite3 connection sees it too.
    with sqlite3.connect(tmp_path / "hive.db") as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "hive.db-wal").exists()


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT version, applied FROM migrations ORDER BY version")
        assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
        first_applied = [r["applied"] for r in rows]
        tables = {
            r["name"]
            for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        expected = {"agents", "approvals", "deployments", "events", "messages", "questions"}
        assert expected | {"stats"} <= tables
        async with db.write() as conn:
            await queries.insert_agent(conn, "worker")
    finally:
        await db.close()
    again = await Database.open(path)
    try:
        rows = await again.fetchall("SELECT version, applied FROM migrations ORDER BY version")
        assert [r["applied"] for r in rows] == first_applied  # nothing ran twice
        assert [a.name for a in await queries.list_agents(again)] == ["worker"]
    finally:
        await again.close()


async def test_an_old_database_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as plain:
        plain.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")
        plain.executescript(MIGRATIONS[0])
        plain.execute("INSERT INTO migrations VALUES (1, 0)")
        plain.execute("INSERT INTO agents (name, created) VALUES ('worker', 0)")
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT version FROM migrations ORDER BY version")
        assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
        assert [a.name for a in await queries.list_agents(db)] == ["worker"]
        assert await db.fetchall("SELECT * FROM messages") == []
    finally:
        await db.close()


async def test_a_failed_write_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await queries.insert_agent(conn, "ghost")
            raise RuntimeError("boom")
    assert await queries.get_agent(db, "ghost") is None
    async with db.write() as conn:  # the write path is usable again
        await queries.insert_agent(conn, "ghost")
    assert await queries.get_agent(db, "ghost") is not None


async def test_readers_never_see_a_write_in_flight(db: Database) -> None:
    async with db.write() as conn:
        await queries.insert_agent(conn, "newcomer")
        assert await queries.get_agent(db, "newcomer") is None
    assert await queries.get_agent(db, "newcomer") is not None


async def test_a_committed_write_is_on_disk_for_another_process(
    db: Database, tmp_path: Path
) -> None:
    approval_id = await add_approval(db)
    with sqlite3.connect(tmp_path / "hive.db") as plain:
        row = plain.execute("SELECT status, head FROM approvals WHERE id = ?", (approval_id,))
        assert row.fetchone() == ("pending", HEAD_A)


async def test_writes_are_serialised(db: Database) -> None:
    order: list[str] = []

    async def writer(name: str) -> None:
        async with db.write() as conn:
            order.append(f"{name} in")
            await queries.insert_agent(conn, name)
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(*(writer(f"w{n}") for n in range(5)))
    assert len(order) == 10
    for i in range(0, 10, 2):
        assert order[i].split()[0] == order[i + 1].split()[0]
        assert order[i].endswith("in") and order[i + 1].endswith("out")


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await add_approval(db, agent="nobody")
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as conn:
            await queries.insert_deployment(conn, "worker", 999, HEAD_A, None)
    assert await queries.list_approvals(db) == []


# approvals


async def test_an_approval_round_trips(db: Database) -> None:
    errors = [{"file": "agent.toml", "line": 2, "key": "model", "message": "must be a string"}]
    approval_id = await add_approval(
        db,
        kind=ApprovalKind.SPAWN,
        base=HEAD_B,
        valid=False,
        errors=errors,
        rewrites_history=True,
        summary="spawn worker",
    )
    approval = await queries.get_approval(db, approval_id)
    assert approval is not None
    assert (approval.id, approval.agent, approval.kind, approval.head, approval.base) == (
        approval_id,
        "worker",
        ApprovalKind.SPAWN,
        HEAD_A,
        HEAD_B,
    )
    assert approval.status is S.PENDING
    assert approval.valid is False and approval.errors == errors
    assert approval.rewrites_history is True and approval.summary == "spawn worker"
    assert approval.decided_by is None and approval.reason is None
    assert await queries.get_approval(db, approval_id + 1) is None


async def test_only_one_pending_approval_per_agent(db: Database) -> None:
    first = await add_approval(db, head=HEAD_A)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await add_approval(db, head=HEAD_B)
    # another agent may have its own pending approval
    await add_approval(db, agent="other", head=HEAD_B)
    # once decided, the agent may have a new pending one
    async with db.write() as conn:
        assert await queries.transition(conn, first, (S.PENDING,), S.DENIED, reason="no")
    second = await add_approval(db, head=HEAD_B)
    pending = await queries.list_approvals(db, agent="worker", statuses=(S.PENDING,))
    assert [a.id for a in pending] == [second]


async def test_the_index_also_stops_a_transition_back_to_pending(db: Database) -> None:
    first = await add_approval(db, head=HEAD_A)
    async with db.write() as conn:
        await queries.transition(conn, first, (S.PENDING,), S.DENIED)
    await add_approval(db, head=HEAD_B)
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as conn:  # past the state machine, straight in SQL
            await conn.execute("UPDATE approvals SET status = 'pending' WHERE id = ?", (first,))
    assert await status_of(db, first) is S.DENIED


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.DENIED, S.PENDING),
        (S.DEPLOYED, S.BUILDING),
        (S.PENDING, S.DEPLOYED),
        (S.FAILED, S.APPROVED),
    ],
)
async def test_transition_refuses_what_the_state_machine_forbids(
    db: Database, old: ApprovalStatus, new: ApprovalStatus
) -> None:
    approval_id = await add_approval(db)
    with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
        async with db.write() as conn:
            await queries.transition(conn, approval_id, (old,), new)
    assert await status_of(db, approval_id) is S.PENDING


async def test_transition_moves_only_from_the_given_status(db: Database) -> None:
    approval_id = await add_approval(db)
    async with db.write() as conn:
        assert not await queries.transition(conn, approval_id, (S.APPROVED,), S.BUILDING)
        assert not await queries.transition(conn, approval_id, (S.BUILDING,), S.DEPLOYED)
    assert await status_of(db, approval_id) is S.PENDING
    async with db.write() as conn:
        assert await queries.transition(
            conn, approval_id, (S.PENDING,), S.APPROVED, decided_by="operator", decided_at=12.5
        )
        assert not await queries.transition(conn, approval_id, (S.PENDING,), S.DENIED)
        assert await queries.transition(conn, approval_id, (S.APPROVED, S.BUILDING), S.BUILDING)
        assert await queries.transition(conn, approval_id, (S.BUILDING,), S.FAILED, log="exit 3")
    approval = await queries.get_approval(db, approval_id)
    assert approval is not None
    assert (approval.status, approval.decided_by, approval.decided_at, approval.log) == (
        S.FAILED,
        "operator",
        12.5,
        "exit 3",
    )


async def test_transition_of_a_missing_approval_is_refused(db: Database) -> None:
    async with db.write() as conn:
        assert not await queries.transition(conn, 4242, (S.PENDING,), S.APPROVED)


async def test_twenty_concurrent_approves_move_it_once(db: Database) -> None:
    approval_id = await add_approval(db)

    async def approve(who: int) -> bool:
        async with db.write() as conn:
            return await queries.transition(
                conn, approval_id, (S.PENDING,), S.APPROVED, decided_by=f"op{who}"
            )

    results = await asyncio.gather(*(approve(n) for n in range(20)))
    assert results.count(True) == 1
    approval = await queries.get_approval(db, approval_id)
    assert approval is not None and approval.status is S.APPROVED
    assert approval.decided_by == f"op{results.index(True)}"


async def test_supersede_pending_marks_only_that_agents_pending_approval(db: Database) -> None:
    old = await add_approval(db, head=HEAD_A)
    async with db.write() as conn:
        await queries.transition(conn, old, (S.PENDING,), S.DENIED, reason="no")
    mine = await add_approval(db, head=HEAD_B)
    theirs = await add_approval(db, agent="other", head=HEAD_B)
    async with db.write() as conn:
        touched = await queries.supersede_pending(conn, "worker")
        newer = await queries.insert_approval(
            conn,
            agent="worker",
            kind=ApprovalKind.APPLY,
            head=HEAD_C,
            base=None,
            valid=True,
            errors=[],
            source="test",
            rewrites_history=False,
            summary="newer",
        )
        await queries.note_superseded_by(conn, touched, newer)
    assert touched == [mine]
    superseded = await queries.get_approval(db, mine)
    assert superseded is not None
    assert superseded.status is S.SUPERSEDED
    assert superseded.decided_by == "controller" and superseded.decided_at is not None
    assert superseded.reason == f"superseded by #{newer}"
    assert await status_of(db, old) is S.DENIED
    assert await status_of(db, theirs) is S.PENDING
    assert await status_of(db, newer) is S.PENDING
    denied = await queries.get_approval(db, old)
    assert denied is not None and denied.reason == "no"


async def test_supersede_pending_without_a_pending_approval_touches_nothing(db: Database) -> None:
    approval_id = await add_approval(db)
    async with db.write() as conn:
        await queries.transition(conn, approval_id, (S.PENDING,), S.APPROVED)
        assert await queries.supersede_pending(conn, "worker") == []
    assert await status_of(db, approval_id) is S.APPROVED


async def test_listing_and_finding_approvals(db: Database) -> None:
    a = await add_approval(db, head=HEAD_A)
    async with db.write() as conn:
        await queries.transition(conn, a, (S.PENDING,), S.APPROVED)
    b = await add_approval(db, agent="other", head=HEAD_B)
    c = await add_approval(db, head=HEAD_C)
    assert [x.id for x in await queries.list_approvals(db)] == [c, b, a]
    assert [x.id for x in await queries.list_approvals(db, agent="worker")] == [c, a]
    both = (S.PENDING, S.APPROVED)
    assert [x.id for x in await queries.list_approvals(db, agent="worker", statuses=both)] == [
        c,
        a,
    ]
    assert [x.id for x in await queries.list_approvals(db, statuses=(S.APPROVED,))] == [a]
    open_one = await queries.open_approval(db, "worker")
    assert open_one is not None and open_one.id == c
    latest = await queries.latest_for_head(db, "worker", HEAD_A)
    assert latest is not None and latest.id == a
    assert await queries.latest_for_head(db, "other", HEAD_A) is None
    async with db.write() as conn:
        await queries.transition(conn, c, (S.PENDING,), S.DENIED)
        await queries.transition(conn, a, (S.APPROVED,), S.BUILDING)
        await queries.transition(conn, a, (S.BUILDING,), S.DEPLOYED)
    assert await queries.open_approval(db, "worker") is None


# agents, deployments, events


async def test_agent_flags(db: Database) -> None:
    record = await queries.get_agent(db, "worker")
    assert record is not None and record.auto_submit is True and record.desired == "running"
    async with db.write() as conn:
        await queries.set_auto_submit(conn, "worker", False)
        await queries.set_desired(conn, "worker", "stopped")
    record = await queries.get_agent(db, "worker")
    assert record is not None and record.auto_submit is False and record.desired == "stopped"
    other = await queries.get_agent(db, "other")
    assert other is not None and other.auto_submit is True and other.desired == "running"
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as conn:
            await queries.insert_agent(conn, "worker")


async def test_deployments_are_listed_newest_first_and_one_per_approval(db: Database) -> None:
    first = await add_approval(db, head=HEAD_A)
    async with db.write() as conn:
        await queries.transition(conn, first, (S.PENDING,), S.DENIED)
    second = await add_approval(db, head=HEAD_B)
    async with db.write() as conn:
        await queries.insert_deployment(conn, "worker", first, HEAD_A, None)
        await queries.insert_deployment(conn, "worker", second, HEAD_B, HEAD_A)
    deployments = await queries.list_deployments(db, "worker")
    assert [(d.approval_id, d.sha, d.previous) for d in deployments] == [
        (second, HEAD_B, HEAD_A),
        (first, HEAD_A, None),
    ]
    assert await queries.list_deployments(db, "other") == []
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as conn:
            await queries.insert_deployment(conn, "worker", second, HEAD_C, HEAD_B)
    assert len(await queries.list_deployments(db, "worker")) == 2


async def test_events_keep_their_data_and_filter_by_agent(db: Database) -> None:
    async with db.write() as conn:
        first = await queries.insert_event(conn, "approval_approved", "worker", {"id": 1})
        await queries.insert_event(conn, "hive_started", None, {})
        last = await queries.insert_event(
            conn, "container_crash", "worker", {"exit": 3, "log": ["a", "é"]}
        )
    events = await queries.list_events(db, "worker")
    assert [(e.id, e.kind, e.data) for e in events] == [
        (last, "container_crash", {"exit": 3, "log": ["a", "é"]}),
        (first, "approval_approved", {"id": 1}),
    ]
    assert len(await queries.list_events(db)) == 3
    assert [e.id for e in await queries.list_events(db, limit=1)] == [last]
