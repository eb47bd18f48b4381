"""SQL for the broker: messages and the operator's questions."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

import aiosqlite

from gitops_hive.records import Message, Question
from gitops_hive.store.db import Database


def _message(row: aiosqlite.Row) -> Message:
    return Message(
        id=row["id"],
        recipient=row["recipient"],
        sender=row["sender"],
        kind=row["kind"],
        body=row["body"],
        data=json.loads(row["data"]),
        created=row["created"],
        delivered_at=row["delivered_at"],
    )


def _question(row: aiosqlite.Row) -> Question:
    return Question(
        id=row["id"],
        asker=row["asker"],
        question=row["question"],
        options=json.loads(row["options"]),
        created=row["created"],
        answer=row["answer"],
        answered_by=row["answered_by"],
        answered_at=row["answered_at"],
    )


async def insert_message(
    conn: aiosqlite.Connection,
    recipient: str,
    sender: str,
    kind: str,
    body: str,
    data: dict[str, Any],
) -> Message:
    """Queue a message in `recipient`'s inbox (inside the caller's transaction)."""
    now = time.time()
    cursor = await conn.execute(
        "INSERT INTO messages (recipient, sender, kind, body, data, created)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (recipient, sender, kind, body, json.dumps(data), now),
    )
    assert cursor.lastrowid is not None
    return Message(cursor.lastrowid, recipient, sender, kind, body, data, now)


async def inbox_depth(conn: aiosqlite.Connection, recipient: str) -> int:
    """Undelivered messages waiting for `recipient`."""
    cursor = await conn.execute(
        "SELECT count(*) FROM messages WHERE recipient = ? AND delivered_at IS NULL", (recipient,)
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def inbox_depths(db: Database) -> dict[str, int]:
    """Undelivered messages per recipient (recipients with none are left out)."""
    rows = await db.fetchall(
        "SELECT recipient, count(*) AS n FROM messages WHERE delivered_at IS NULL"
        " GROUP BY recipient"
    )
    return {r["recipient"]: int(r["n"]) for r in rows}


async def oldest_unread(db: Database, recipient: str) -> float | None:
    """When the oldest message still waiting for `recipient` was sent."""
    row = await db.fetchone(
        "SELECT created FROM messages WHERE recipient = ? AND delivered_at IS NULL"
        " ORDER BY id LIMIT 1",
        (recipient,),
    )
    return float(row["created"]) if row else None


async def undelivered(
    db: Database, recipient: str, limit: int, skip: Collection[int] = ()
) -> list[Message]:
    """The oldest undelivered messages for `recipient`, leaving out ids in `skip`.

    Read after every delivery committed so far, so a message acknowledged (and released by
    its reader) a moment ago is never handed out again from an older snapshot.
    """
    rows = await db.fetchall_latest(
        "SELECT * FROM messages WHERE recipient = ? AND delivered_at IS NULL ORDER BY id LIMIT ?",
        (recipient, limit + len(skip)),
    )
    return [m for m in map(_message, rows) if m.id not in skip][:limit]


async def mark_delivered(conn: aiosqlite.Connection, ids: Collection[int]) -> None:
    """Record that these messages reached their reader."""
    now = time.time()
    await conn.executemany(
        "UPDATE messages SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
        [(now, i) for i in ids],
    )


async def mark_undelivered(
    conn: aiosqlite.Connection, recipient: str, ids: Collection[int], delivered_since: float
) -> int:
    """Put messages of `recipient`'s delivered since `delivered_since` back in its inbox;
    returns how many went back."""
    cursor = await conn.executemany(
        "UPDATE messages SET delivered_at = NULL"
        " WHERE id = ? AND recipient = ? AND delivered_at >= ?",
        [(i, recipient, delivered_since) for i in ids],
    )
    return max(cursor.rowcount, 0)


async def insert_question(
    conn: aiosqlite.Connection, asker: str, question: str, options: list[str]
) -> Question:
    now = time.time()
    cursor = await conn.execute(
        "INSERT INTO questions (asker, question, options, created) VALUES (?, ?, ?, ?)",
        (asker, question, json.dumps(options), now),
    )
    assert cursor.lastrowid is not None
    return Question(cursor.lastrowid, asker, question, options, now)


async def get_question(db: Database, question_id: int) -> Question | None:
    row = await db.fetchone("SELECT * FROM questions WHERE id = ?", (question_id,))
    return _question(row) if row else None


async def list_questions(
    db: Database, *, open_only: bool, limit: int | None = None
) -> list[Question]:
    where = "WHERE answered_at IS NULL" if open_only else ""
    rows = await db.fetchall(
        f"SELECT * FROM questions {where} ORDER BY id DESC LIMIT ?",
        (-1 if limit is None else limit,),
    )
    return [_question(r) for r in rows]


async def answer_question(
    conn: aiosqlite.Connection, question_id: int, answer: str, who: str
) -> bool:
    """Store the answer unless one was given already; True when this call answered it."""
    cursor = await conn.execute(
        "UPDATE questions SET answer = ?, answered_by = ?, answered_at = ?"
        " WHERE id = ? AND answered_at IS NULL",
        (answer, who, time.time(), question_id),
    )
    return cursor.rowcount == 1
