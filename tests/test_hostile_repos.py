"""A hostile manager's proposed/: at every place the controller (or git) reads under .git, a
FIFO, a unix socket, a device, a symlink to a host file or folder, a hard link to a file
outside.

Through the doors an agent has (files in proposed/.git, then the rescan a commit or a hook
ping starts, the dashboard's API): no read blocks, nothing of the host repo reaches
applied.git, the agent shows `unreadable` with a reason, the manager hears of it once (a
restart included), and the other agent, the dashboard and startup go on as before.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from tests.conftest import logged_in_dashboard, make_root
from tests.repo_factory import GIT_ENV, git

SECRET = "host secret: never in applied.git"


@dataclass(frozen=True)
class Template:
    """A hive root (manager, worker, other; worker's repo packed) and a host repo outside it."""

    root: Path
    host: Path  # the host repo's .git


async def _populate(root: Path) -> None:
    layout = HiveLayout(root)
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    try:
        await hive.draft("manager")
        for name in ("worker", "other"):
            await hive.draft(name)
            await hive.submit(name, None, source="test")
    finally:
        await hive.close()
    work = layout.agent("worker").proposed
    git(work, "notes", "--ref=hive/model", "add", "-m", 'model = "opus"', "HEAD")
    git(work, "pack-refs", "--all")
    git(work, "repack", "-adq")


def _host(path: Path) -> Path:
    """A repo outside the hive whose files a hostile proposed/ points at: packed, then a loose
    commit, a loose main and a loose note besides its packed-refs."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "secret.txt").write_text(SECRET + "\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "secret")
    git(path, "pack-refs", "--all")
    git(path, "repack", "-adq")
    (path / "secret.txt").write_text(SECRET + ", again\n")
    git(path, "commit", "-qam", "more secret")
    git(path, "notes", "--ref=hive/model", "add", "-m", 'model = "opus"', "HEAD")
    return path / ".git"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    base = tmp_path_factory.mktemp("hostile")
    root = make_root(base / "hive")
    asyncio.run(_populate(root))
    return Template(root, _host(base / "host"))


def _pack(git_dir: Path, suffix: str) -> str:
    (found,) = (git_dir / "objects" / "pack").glob(f"*{suffix}")
    return str(found.relative_to(git_dir))


def _loose(git_dir: Path, sha: str) -> str:
    return f"objects/{sha[:2]}/{sha[2:]}"


# place -> (its path under the worker's .git, the host's counterpart), given (.git, head)
Where = Callable[[Path, str], str]
FILES: dict[str, tuple[Where, Where]] = {
    "HEAD": (lambda g, h: "HEAD", lambda g, h: "HEAD"),
    "config": (lambda g, h: "config", lambda g, h: "config"),
    "packed-refs": (lambda g, h: "packed-refs", lambda g, h: "packed-refs"),
    "main": (lambda g, h: repos.MAIN, lambda g, h: repos.MAIN),
    "notes-ref": (lambda g, h: "refs/notes/hive/model", lambda g, h: "refs/notes/hive/model"),
    "alternates": (lambda g, h: "objects/info/alternates", lambda g, h: "config"),
    "loose-object": (_loose, _loose),
    "pack-idx": (lambda g, h: _pack(g, ".idx"), lambda g, h: _pack(g, ".idx")),
    "pack": (lambda g, h: _pack(g, ".pack"), lambda g, h: _pack(g, ".pack")),
}
FOLDERS: dict[str, tuple[Where, Where]] = {
    "git-dir": (lambda g, h: "", lambda g, h: ""),  # proposed/.git itself
    "refs": (lambda g, h: "refs", lambda g, h: "refs"),
    "refs-heads": (lambda g, h: "refs/heads", lambda g, h: "refs/heads"),
    "objects": (lambda g, h: "objects", lambda g, h: "objects"),
    "objects-xx": (lambda g, h: f"objects/{h[:2]}", lambda g, h: f"objects/{h[:2]}"),
    "objects-pack": (lambda g, h: "objects/pack", lambda g, h: "objects/pack"),
}
KINDS = ("fifo", "socket", "device", "symlink-to-file", "symlink-to-folder", "hard-link")
CASES = [(place, kind) for place in FILES for kind in KINDS] + [
    (place, kind) for place in FOLDERS for kind in KINDS if kind not in ("hard-link", "device")
]


def _bind_socket(path: Path) -> None:
    """A unix socket at `path`, however long (bound through /proc/self/fd)."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)


def plant(place: str, kind: str, git_dir: Path, head: str, host: Path) -> None:
    """Put the hostile entry at `place` (whatever was there moved aside)."""
    host_head = git(host, "rev-parse", "HEAD")
    mine, theirs = FILES.get(place) or FOLDERS[place]
    target, source = git_dir / mine(git_dir, head), host / theirs(host, host_head)
    if target.is_dir() and not target.is_symlink():
        target.rename(target.with_name(target.name + ".away"))
    elif target.exists() or target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        _bind_socket(target)
    elif kind == "device":  # /dev/zero's numbers: a reader that reads to the end never ends
        os.mknod(target, 0o444 | stat.S_IFCHR, os.makedev(1, 5))
    elif kind == "symlink-to-file":
        target.symlink_to(source if source.is_file() else host / "config")
    elif kind == "symlink-to-folder":
        target.symlink_to(source if source.is_dir() else host / "refs")
    else:
        os.link(source, target)


def _objects_text(applied: Path) -> str:
    """Every object of a repo, as git prints them (to look for the host's bytes)."""
    return subprocess.run(
        ["git", "-C", str(applied), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


async def _unreadable_notices(hive: Hive) -> list[Any]:
    return list(
        await hive.ctx.db.fetchall(
            "SELECT data FROM messages WHERE recipient = 'manager' AND kind = 'agent_unreadable'"
        )
    )


@pytest.mark.parametrize(("place", "kind"), CASES, ids=[f"{p}-{k}" for p, k in CASES])
async def test_a_hostile_entry_makes_only_its_agent_unreadable(
    template: Template, tmp_path: Path, aiohttp_client: Any, place: str, kind: str
) -> None:
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("making a device file needs root")
    root = tmp_path / "hive"
    shutil.copytree(template.root, root, symlinks=True)
    layout = HiveLayout(root)
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    worker, other = layout.agent("worker"), layout.agent("other")
    hive = await Hive.open(layout, load_config(layout.config))
    try:
        async with asyncio.timeout(20):  # no read blocks (the pytest timeout is the backstop)
            await hive.start()
            client, auth = await logged_in_dashboard(hive, aiohttp_client)

            async def agents() -> dict[str, Any]:
                response = await client.get("/api/agents", headers=auth)
                assert response.status == 200, await response.text()
                return {a["name"]: a for a in await response.json()}

            before = await agents()
            assert before["worker"]["status"] != "unreadable", before["worker"]
            (worker.proposed / "prompt.md").write_text("# worker\n\nA second thought.\n")
            git(worker.proposed, "commit", "-qam", "second thought")
            head = git(worker.proposed, "rev-parse", "HEAD")
            plant(place, kind, worker.proposed_git, head, template.host)

            for _ in range(2):  # a rescan (a commit, a hook's ping) and a page view, twice
                assert await hive.rescan("worker") is None
                after = await agents()
                assert after["worker"]["status"] == "unreadable", after["worker"]
                assert after["worker"]["reason"], after["worker"]
                assert after["other"] == before["other"]
            for path in ("/", "/agents/worker", "/api/agents/worker", "/api/health"):
                page = await client.get(path, headers=auth)
                assert page.status == 200, (path, await page.text())
            assert (
                "cannot be read" in await (await client.get("/agents/worker", headers=auth)).text()
            )
            assert len(await _unreadable_notices(hive)) == 1

            (other.proposed / "prompt.md").write_text("# other\n\nStill here.\n")
            git(other.proposed, "commit", "-qam", "other moves on")
            approval = await hive.submit("other", None, source="test")
            assert approval.head == git(other.proposed, "rev-parse", "HEAD")
        await hive.close()
        hive = await Hive.open(layout, load_config(layout.config))
        async with asyncio.timeout(20):
            await hive.start()  # a restart: startup completes, the manager is not told again
            assert (await hive.agent("worker"))["status"] == "unreadable"
            assert len(await _unreadable_notices(hive)) == 1
    finally:
        await hive.close()
    host_commits = git(template.host, "rev-list", "--all").split()
    for agent in (worker, other):
        assert SECRET not in _objects_text(agent.applied)
        assert not set(host_commits) & set(git(agent.applied, "rev-list", "--all").split())
