"""Machine-readable notices to the manager's inbox: decisions and crashes."""

from __future__ import annotations

import logging
from typing import Any

from gitops_hive.context import HiveContext
from gitops_hive.errors import LimitExceeded
from gitops_hive.protocol import SYSTEM_SENDER
from gitops_hive.store import Connection, queries

log = logging.getLogger(__name__)


async def notify_manager(
    ctx: HiveContext, conn: Connection, kind: str, body: str, data: dict[str, Any]
) -> bool:
    """Queue a notice for the manager inside the caller's transaction; call wake_manager after.

    Nothing is queued while the manager agent does not exist yet, and a full inbox never
    fails the decision the notice is about (the events table keeps it either way).
    """
    manager = ctx.config.manager
    if not await queries.agent_exists(conn, manager):
        return False
    try:
        await ctx.broker.post(conn, SYSTEM_SENDER, manager, body, kind=kind, data=data)
    except LimitExceeded as exc:
        log.warning("notice %s for %s dropped: %s", kind, manager, exc.message)
        return False
    return True


def wake_manager(ctx: HiveContext) -> None:
    """Wake the manager's parked recv once a notice committed."""
    ctx.broker.wake(ctx.config.manager)
