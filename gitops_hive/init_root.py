"""`hivectl init`: lay out a new hive root."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from pathlib import Path

from gitops_hive.layout import HiveLayout
from gitops_hive.settings import render_template
from gitops_hive.store import Database


def _write_atomic(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _create_db(path: Path) -> None:
    db = await Database.open(path)
    await db.close()


def init_root(root: Path) -> list[str]:
    """Create whatever of the hive layout is missing; return what was made."""
    layout = HiveLayout(root)
    made: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    for folder, mode in ((layout.agents_dir, 0o755), (layout.run, 0o700)):
        if not folder.is_dir():
            folder.mkdir(mode=mode)
            made.append(f"{folder.name}/")
    if not layout.config.exists():
        _write_atomic(layout.config, render_template(), 0o644)
        made.append(layout.config.name)
    if not layout.db.exists():
        asyncio.run(_create_db(layout.db))
        made.append(layout.db.name)
    if not layout.token.exists():
        _write_atomic(layout.token, secrets.token_urlsafe(32) + "\n", 0o600)
        made.append(layout.token.name)
    return made
