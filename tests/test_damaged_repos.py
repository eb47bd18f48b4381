"""A damaged proposed/ repo, on disk as a crash, a full disk or a hostile manager leaves it.

Every read of it is a one-line HiveError (never a traceback, a hang or a 500), the dashboard
still lists the agent, the other agents are untouched, and a rescan of it does not raise.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gitops_hive import repos
from gitops_hive.errors import HiveError, RepoUnreadable
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.repos import notes
from gitops_hive.text import UNSHOWABLE
from gitops_hive.web.app import make_web_app
from gitops_hive.web.security import Guard, allowed_hosts_for, read_token
from tests.conftest import make_root, started_hive
from tests.repo_factory import git, make_repo

BUDGET = 10 * 1024 * 1024
Damage = Callable[[Path, str], None]
NOWHERE = "1234567890" * 4  # a sha no object has


def loose(git_dir: Path, sha: str) -> Path:
    return git_dir / "objects" / sha[:2] / sha[2:]


def rewrite(path: Path, data: bytes) -> None:
    """Replace a file git wrote read-only."""
    path.unlink()
    path.write_bytes(data)


def garbage_head(git_dir: Path, head: str) -> None:
    (git_dir / "HEAD").write_bytes(b"\x00\xffnot a ref at all\n")


def truncated_head_commit(git_dir: Path, head: str) -> None:
    data = loose(git_dir, head).read_bytes()
    rewrite(loose(git_dir, head), data[: len(data) // 2])


def garbage_head_commit(git_dir: Path, head: str) -> None:
    rewrite(loose(git_dir, head), b"this is not zlib data\n")


def head_commit_is_a_fifo(git_dir: Path, head: str) -> None:
    loose(git_dir, head).unlink()
    os.mkfifo(loose(git_dir, head))


def head_commit_is_a_symlink(git_dir: Path, head: str) -> None:
    moved = git_dir.parent.parent / "elsewhere"
    loose(git_dir, head).rename(moved)
    loose(git_dir, head).symlink_to(moved)


def head_commit_understates_its_size(git_dir: Path, head: str) -> None:
    # libgit2 1.9 would copy the body past the buffer it sized from the header.
    body = zlib.decompress(loose(git_dir, head).read_bytes()).partition(b"\0")[2]
    rewrite(loose(git_dir, head), zlib.compress(b"commit 12\0" + body))


def truncated_pack(git_dir: Path, head: str) -> None:
    git(git_dir, "repack", "-adq")
    (pack,) = (git_dir / "objects" / "pack").glob("*.pack")
    rewrite(pack, pack.read_bytes()[:-200])


def missing_tree(git_dir: Path, head: str) -> None:
    loose(git_dir, git(git_dir, "rev-parse", f"{head}^{{tree}}")).unlink()


def garbage_packed_refs(git_dir: Path, head: str) -> None:
    (git_dir / "refs" / "heads" / "main").unlink()
    (git_dir / "packed-refs").write_bytes(b"# pack-refs with: peeled\nzz refs/heads/main\n\xff\n")


def ref_to_a_missing_object(git_dir: Path, head: str) -> None:
    (git_dir / "refs" / "heads" / "main").write_text(NOWHERE + "\n")


def objects_is_a_file(git_dir: Path, head: str) -> None:
    shutil.rmtree(git_dir / "objects")
    (git_dir / "objects").write_text("not a folder\n")


DAMAGES: list[Damage] = [
    garbage_head,
    truncated_head_commit,
    garbage_head_commit,
    head_commit_is_a_fifo,
    head_commit_is_a_symlink,
    head_commit_understates_its_size,
    truncated_pack,
    missing_tree,
    garbage_packed_refs,
    ref_to_a_missing_object,
    objects_is_a_file,
]
# libgit2 reads refs/heads/main directly and never HEAD, so a garbage HEAD harms nothing.
HARMLESS = {garbage_head}


def assert_one_line(exc: HiveError, repo: Path) -> None:
    assert "\n" not in exc.message and not UNSHOWABLE.search(exc.message), exc.message
    if isinstance(exc, RepoUnreadable):
        assert exc.message.startswith(f"{repo}: cannot "), exc.message
        assert "; " in exc.message  # what to do comes after the failure


def reads(git_dir: Path, applied: Path, head: str) -> dict[str, Callable[[], object]]:
    """Every public read of a proposed/ repo, and the two a submission chains."""

    def pin_main() -> object:
        resolved = repos.resolve_commit(git_dir, "main")
        return repos.copy_commit(git_dir, applied, resolved, BUDGET)

    return {
        "open_untrusted": lambda: repos.open_untrusted(git_dir).close(),
        "read_head": lambda: repos.read_head(git_dir),
        "resolve_commit": lambda: repos.resolve_commit(git_dir, "main"),
        "resolve_sha": lambda: repos.resolve_commit(git_dir, head),
        "copy_commit": lambda: repos.copy_commit(git_dir, applied, head, BUDGET),
        "read_proposed_note": lambda: notes.read_proposed_note(git_dir, head, None),
        "pin_main": pin_main,
    }


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_every_read_of_a_damaged_repo_is_a_one_line_hive_error(
    tmp_path: Path, damage: Damage
) -> None:
    work = tmp_path / "agents" / "worker" / "proposed"
    head = make_repo(work, "worker")[-1]
    git(work, "notes", "--ref=hive/model", "add", "-m", 'model = "opus"', head)
    applied = tmp_path / "agents" / "worker" / "applied.git"
    repos.init_applied(applied)
    damage(work / ".git", head)
    failed: dict[str, HiveError] = {}
    for name, read in reads(work / ".git", applied, head).items():
        try:
            read()
        except HiveError as exc:
            assert_one_line(exc, work)
            failed[name] = exc
    # Pinning what main names needs every object of its head: only a harmless damage allows it.
    assert ("pin_main" not in failed) == (damage in HARMLESS), failed
    if "copy_commit" in failed:  # a refused copy leaves nothing half-copied behind
        assert git(applied, "count-objects") == "0 objects, 0 kilobytes"


def test_a_packed_repo_reads_as_a_loose_one(tmp_path: Path) -> None:
    work = tmp_path / "proposed"
    shas = make_repo(work, "worker")
    git(work, "notes", "--ref=hive/model", "add", "-m", 'model = "opus"', shas[-1])
    git(work, "repack", "-adq")
    git(work, "prune-packed")
    assert not [p for p in (work / ".git" / "objects").glob("??/*")]  # packs only
    applied = tmp_path / "applied.git"
    repos.init_applied(applied)
    git_dir = work / ".git"
    assert repos.resolve_commit(git_dir, "main") == shas[-1]
    assert repos.resolve_commit(git_dir, shas[1][:8]) == shas[1]
    assert notes.read_proposed_note(git_dir, shas[-1], None) == 'model = "opus"\n'
    assert repos.copy_commit(git_dir, applied, shas[-1], BUDGET) > 0
    assert repos.read_blob(applied, shas[-1], "agent.toml") == (work / "agent.toml").read_bytes()


Client = TestClient[Any, Any]


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Hive]:
    hive = await started_hive(HiveLayout(make_root(tmp_path / "hive")))
    try:
        yield hive
    finally:
        await hive.close()


async def submitted_twice(hive: Hive) -> str:
    """worker and other drafted and submitted; worker then commits again (a loose head the
    watcher would submit). Returns worker's new head."""
    for name in ("worker", "other"):
        await hive.draft(name)
        await hive.submit(name, None, source="test")
    work = hive.ctx.layout.agent("worker").proposed
    (work / "prompt.md").write_text("# worker\n\nA second thought.\n")
    git(work, "commit", "-qam", "second thought")
    return git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
async def test_a_damaged_repo_leaves_the_dashboard_and_the_other_agents_alone(
    hive: Hive, aiohttp_client: Any, damage: Damage
) -> None:
    head = await submitted_twice(hive)
    worker = hive.ctx.layout.agent("worker")
    guard = Guard(read_token(hive.ctx.layout.token), sessions=hive.sessions)
    client: Client = await aiohttp_client(make_web_app(hive, guard))
    guard.allowed_hosts.update(allowed_hosts_for("127.0.0.1", client.port))
    auth = {"Authorization": f"Bearer {guard.token}"}
    before = {a["name"]: a for a in await (await client.get("/api/agents", headers=auth)).json()}

    damage(worker.proposed_git, head)

    response = await client.get("/api/agents", headers=auth)
    assert response.status == 200, await response.text()
    after = {a["name"]: a for a in await response.json()}
    assert set(after) == {"worker", "other"}
    assert after["other"] == before["other"]
    assert after["worker"]["pending"] == before["worker"]["pending"]
    assert after["worker"]["proposed"] in (None, head, NOWHERE)  # what main names, if readable
    for path in ("/api/agents/worker", "/api/agents/other", "/"):
        page = await client.get(path, headers=auth)
        assert page.status == 200, (path, await page.text())

    # What the ref watcher and the hooks' ping run: it logs the damage, it never raises.
    resubmitted = await hive.rescan("worker")
    if damage in HARMLESS:
        assert resubmitted is not None and resubmitted.head == head
        return
    assert resubmitted is None
    assert (await hive.agent("worker"))["pending"] == before["worker"]["pending"]
    with pytest.raises(HiveError) as refused:
        await hive.submit("worker", None, source="test")
    assert_one_line(refused.value, worker.proposed)
    assert await hive.rescan("other") is None  # nothing new there, and nothing broken
