"""Untrusted reads run on threads of their own within a time limit: a read that hangs (none
should, the confined walk opens no FIFO; this is the backstop) makes only its own repo
unreadable, is never waited for, and starves neither the pool nor the dashboard."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import RepoUnreadable
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.repos import ReadPool
from gitops_hive.web.app import make_web_app
from gitops_hive.web.security import Guard, allowed_hosts_for, read_token
from tests.conftest import make_root
from tests.repo_factory import git


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets every hung read of the test end when it does."""
    event = threading.Event()
    yield event
    event.set()


def echo(repo: Path, value: object) -> object:
    return value


async def test_hung_reads_time_out_and_never_starve_the_pool(release: threading.Event) -> None:
    pool = ReadPool(timeout=0.2, workers=2)

    def hang(repo: Path) -> str:
        release.wait()
        return "late"

    hung = [Path(f"/hive/agents/a{n}/proposed/.git") for n in range(5)]  # more than workers
    async with asyncio.timeout(10):
        answers = await asyncio.gather(*(pool.run(hang, r) for r in hung), return_exceptions=True)
        assert all(isinstance(a, RepoUnreadable) for a in answers), answers
        assert "cannot read it within 0.2s" in str(answers[0])
        # A repo whose read still hangs is refused at once; every other repo still reads.
        with pytest.raises(RepoUnreadable, match="has not ended"):
            await pool.run(echo, hung[0], 1)
        assert await pool.run(echo, Path("/hive/agents/ok/proposed/.git"), 5) == 5
        # Once the hung reads end, their repos read again and their threads are gone.
        release.set()
        while True:
            try:
                assert await pool.run(echo, hung[0], 7) == 7
                break
            except RepoUnreadable:
                await asyncio.sleep(0.01)
    pool.close()


async def test_a_hung_thread_is_not_waited_for(release: threading.Event) -> None:
    pool = ReadPool(timeout=0.1, workers=1)
    with pytest.raises(RepoUnreadable):
        await pool.run(lambda repo: release.wait(), Path("/r/.git"))
    pool.close()  # returns at once; the process may exit with the read still hung
    readers = [t for t in threading.enumerate() if t.name == "hive-untrusted-read"]
    assert readers and all(t.daemon for t in readers)


async def test_errors_and_results_come_back_as_they_are() -> None:
    pool = ReadPool(timeout=5)

    def fail(repo: Path) -> None:
        raise RepoUnreadable(f"{repo}: cannot read it (broken); fix it")

    assert await pool.run(echo, Path("/r/.git"), {"a": 1}) == {"a": 1}
    with pytest.raises(RepoUnreadable, match="broken"):
        await pool.run(fail, Path("/r/.git"))
    pool.close()


Client = Any


@pytest.fixture
async def slow_hive(tmp_path: Path) -> AsyncIterator[Hive]:
    """A hive whose reads of proposed/ may take half a second, with manager, worker, other."""
    layout = HiveLayout(make_root(tmp_path / "hive"))
    text = layout.config.read_text().replace("read_timeout = 5.0", "read_timeout = 0.5")
    layout.config.write_text(text)
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    assert hive.ctx.reads.timeout == 0.5
    for name in ("manager", "worker", "other"):
        await hive.draft(name)
    try:
        yield hive
    finally:
        await hive.close()


async def test_a_read_that_hangs_leaves_the_dashboard_answering(
    slow_hive: Hive,
    aiohttp_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    release: threading.Event,
) -> None:
    worker_git = slow_hive.agent_layout("worker").proposed_git
    read_head = repos.read_head

    def hangs_for_worker(git_dir: Path) -> str | None:
        if git_dir == worker_git:
            release.wait()  # what a blocking open would do
        return read_head(git_dir)

    monkeypatch.setattr(repos, "read_head", hangs_for_worker)
    # The listing reads a repo again only once its refs moved: the manager commits.
    work = slow_hive.agent_layout("worker").proposed
    (work / "prompt.md").write_text("# worker\n\nA second thought.\n")
    git(work, "commit", "-qam", "second thought")
    guard = Guard(read_token(slow_hive.ctx.layout.token), sessions=slow_hive.sessions)
    client: Client = await aiohttp_client(make_web_app(slow_hive, guard))
    guard.allowed_hosts.update(allowed_hosts_for("127.0.0.1", client.port))
    auth = {"Authorization": f"Bearer {guard.token}"}
    async with asyncio.timeout(10):
        for attempt in range(3):  # the first waits out the limit, the next are refused at once
            response = await client.get("/api/agents", headers=auth)
            assert response.status == 200, await response.text()
            agents = {a["name"]: a for a in await response.json()}
            assert agents["worker"]["status"] == "unreadable", agents["worker"]
            expected = "within 0.5s" if attempt == 0 else "has not ended"
            assert expected in agents["worker"]["reason"], agents["worker"]["reason"]
            assert agents["other"]["status"] == "draft"
            assert agents["other"]["proposed"] is not None
            health = await client.get("/api/health", headers=auth)
            assert health.status == 200
        assert await slow_hive.rescan("worker") is None
        notices = await slow_hive.ctx.db.fetchall(
            "SELECT body FROM messages WHERE recipient = 'manager' AND kind = 'agent_unreadable'"
        )
        assert len(notices) == 1 and "within 0.5s" in notices[0]["body"]
