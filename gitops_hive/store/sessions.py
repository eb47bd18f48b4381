"""SQL for dashboard sessions: a hash of each cookie, never the cookie itself."""

from __future__ import annotations

from gitops_hive.store.db import Connection, Database


async def insert_session(
    conn: Connection, digest: str, token: str, created: float, expires: float
) -> None:
    await conn.execute(
        "INSERT INTO sessions (hash, token, created, expires) VALUES (?, ?, ?, ?)",
        (digest, token, created, expires),
    )


async def session_alive(db: Database, digest: str, token: str, now: float) -> bool:
    """Whether the session exists, was issued under `token` and has not expired."""
    row = await db.fetchone(
        "SELECT 1 FROM sessions WHERE hash = ? AND token = ? AND expires > ?",
        (digest, token, now),
    )
    return row is not None


async def delete_session(conn: Connection, digest: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE hash = ?", (digest,))


async def delete_stale_sessions(conn: Connection, token: str, now: float) -> int:
    """Drop expired sessions and those issued under another token; return how many."""
    cursor = await conn.execute(
        "DELETE FROM sessions WHERE expires <= ? OR token != ?", (now, token)
    )
    return cursor.rowcount
