"""The operator's dashboard sessions: a random cookie per login, kept only as a hash, bound to
the operator token it was issued under, ending at logout, expiry or a token rotation."""

from __future__ import annotations

import hashlib
import secrets
import time

from gitops_hive.context import HiveContext
from gitops_hive.store import sessions as store

SESSION_SECONDS = 12 * 3600


def digest(value: str) -> str:
    """How a secret (a session cookie, a terminal ticket) is kept: its SHA-256, in hex."""
    return hashlib.sha256(value.encode()).hexdigest()


class OperatorSessions:
    """Sessions of the dashboard, in hive.db."""

    def __init__(self, ctx: HiveContext) -> None:
        self.ctx = ctx

    async def open(self, token: str) -> str:
        """A new session for a login with `token`; returns the cookie (stored only hashed)."""
        cookie = secrets.token_urlsafe(32)
        now = time.time()
        async with self.ctx.db.write() as conn:
            await store.delete_stale_sessions(conn, digest(token), now)
            await store.insert_session(
                conn, digest(cookie), digest(token), now, now + SESSION_SECONDS
            )
        return cookie

    async def alive(self, cookie: str, token: str) -> bool:
        """Whether `cookie` is a live session issued under the current `token`."""
        if not cookie:
            return False
        return await store.session_alive(self.ctx.db, digest(cookie), digest(token), time.time())

    async def end(self, cookie: str) -> None:
        """Log this session out."""
        async with self.ctx.db.write() as conn:
            await store.delete_session(conn, digest(cookie))

    async def end_all_but(self, token: str) -> int:
        """End every session not issued under `token` (it was rotated); return how many."""
        async with self.ctx.db.write() as conn:
            return await store.delete_stale_sessions(conn, digest(token), time.time())
