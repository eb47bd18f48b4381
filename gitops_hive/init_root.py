"""`hivectl init`: lay out a new hive root."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import tempfile
from pathlib import Path

from gitops_hive.config import render_template
from gitops_hive.layout import HiveLayout
from gitops_hive.pushes.targets import make_hive_git
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
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (layout.agents_dir, layout.run):
        if not folder.is_dir():
            folder.mkdir(mode=0o700)
            made.append(f"{folder.name}/")
    if not layout.config.exists():
        _write_atomic(layout.config, render_template(), 0o600)
        made.append(layout.config.name)
    if not layout.db.exists():
        asyncio.run(_create_db(layout.db))
        made.append(layout.db.name)
    if not layout.token.exists():
        write_token(layout.token)
        made.append(layout.token.name)
    if make_hive_git(layout):
        made.append(f"{layout.hive_git.name}/")
    tighten(layout)
    return made


def write_token(path: Path) -> None:
    """A new operator token, replacing any old one in one rename (0600)."""
    _write_atomic(path, secrets.token_urlsafe(32) + "\n", 0o600)


def tighten(layout: HiveLayout) -> list[str]:
    """Make the root, agents/ and run/ 0700 and hive.toml, hive.db and the token 0600 (hive.db
    holds every message and the token is the dashboard's key); return what was loosened."""
    fixed: list[str] = []
    wanted = [(layout.root, 0o700), (layout.agents_dir, 0o700), (layout.run, 0o700)]
    wanted += [(layout.config, 0o600), (layout.token, 0o600)]
    wanted += [(layout.db.with_name(layout.db.name + s), 0o600) for s in ("", "-wal", "-shm")]
    for path, mode in wanted:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & ~mode == 0:
            continue
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
        fixed.append(path.name)
    return fixed
