"""Memory is bounded by what is on disk, not by what a blob inflates to: a blob over its limit
(loose, packed, or the delta base of a small file) is refused from its header, before it is
inflated, and a commit holding 1 GiB of zeros costs the controller a refusal, not 2 GB."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import LimitExceeded
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from tests.conftest import ServedHive, make_root
from tests.hostile_objects import (
    GIB,
    commit_blob,
    write_loose_zeros,
    write_zeros_pack,
    zeros_id,
)
from tests.repo_factory import git

MIB = 1 << 20
PEAK_RSS_LIMIT = 300 * MIB
STORAGES = ("loose", "packed", "delta-of-big")


def big_commit(work: Path, storage: str, size: int) -> str:
    """Commit a file of `size` zeros (or, for delta-of-big, ten zeros stored as a delta of
    it) to work's main, the objects written as a hostile manager can; return the commit."""
    git_dir = work / ".git"
    if storage == "loose":
        return commit_blob(work, "big.bin", write_loose_zeros(git_dir, size))
    big, small = write_zeros_pack(git_dir, size)
    if storage == "packed":
        return commit_blob(work, "big.bin", big)
    return commit_blob(work, "small.bin", small)


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Hive]:
    """A hive (hive.toml's default limits) with a manager, and a worker submitted once."""
    layout = HiveLayout(make_root(tmp_path / "hive"))
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    await hive.draft("manager")
    await hive.spawn("worker")
    try:
        yield hive
    finally:
        await hive.close()


@pytest.mark.parametrize("storage", STORAGES)
async def test_a_file_over_the_limit_is_refused_before_it_is_inflated(
    hive: Hive, storage: str
) -> None:
    worker = hive.agent_layout("worker")
    head = big_commit(worker.proposed, storage, 8 * MIB)
    for _ in range(2):  # the watcher's rescan, then the same commit submitted by hand
        assert await hive.rescan("worker") is None
        with pytest.raises(LimitExceeded) as refused:
            await hive.submit("worker", None, source="test")
        if storage == "delta-of-big":
            assert "'s delta base is 8388608 bytes" in refused.value.message
        else:
            assert f"commit {head[:12]} brings a file of 8388608 bytes" in refused.value.message
            assert "limits.max_file_bytes (1048576)" in refused.value.message
    assert git(worker.applied, "rev-list", "--all").count("\n") == 0  # only the first commit
    assert zeros_id(8 * MIB) not in git(
        worker.applied, "cat-file", "--batch-all-objects", "--batch-check"
    )
    shown = await hive.agent("worker")
    assert shown["status"] == "unreadable" and shown["reason"] == refused.value.message
    notices = await hive.ctx.db.fetchall(
        "SELECT body FROM messages WHERE recipient = 'manager' AND kind = 'agent_unreadable'"
    )
    assert len(notices) == 1 and refused.value.message in notices[0]["body"]


# The controller in a child process meets the commit (a submission, as the watcher makes
# one) and reports what it said and its own peak RSS.
SUBMIT_IN_A_CHILD = """
import asyncio, json, resource, sys
from pathlib import Path
from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import HiveError
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout

async def main():
    layout = HiveLayout(Path(sys.argv[1]))
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    try:
        await hive.submit("worker", None, source="test")
        return None
    except HiveError as exc:
        return exc.message
    finally:
        await hive.close()

refusal = asyncio.run(main())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"refusal": refusal, "peak": peak}))
"""


def submit_in_a_child(root: Path) -> dict[str, Any]:
    """What a controller process says to a submission of worker's main, and its peak RSS."""
    child = subprocess.run(
        [sys.executable, "-c", SUBMIT_IN_A_CHILD, str(root)],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert child.returncode == 0, child.stderr
    result: dict[str, Any] = json.loads(child.stdout)
    return result


@pytest.mark.parametrize("storage", STORAGES)
async def test_a_gib_of_zeros_is_refused_within_300_mb(hive: Hive, storage: str) -> None:
    big_commit(hive.agent_layout("worker").proposed, storage, GIB)
    result = submit_in_a_child(hive.root)
    assert result["peak"] < PEAK_RSS_LIMIT, f"peak RSS {result['peak'] / MIB:.0f} MB"
    assert result["refusal"] and "1073741824 bytes" in result["refusal"], result


def _peak_rss(pid: int) -> int:
    """A live process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.e2e
def test_the_controller_meets_a_gib_of_zeros(served: ServedHive) -> None:
    for name in ("manager", "worker", "other"):
        assert served.cli("spawn", name).returncode == 0
    work = served.proposed("worker")
    head = big_commit(work, "loose", GIB)  # the watcher sees main move and pins it

    def unreadable() -> dict[str, object] | None:
        worker = next(a for a in served.json("agents") if a["name"] == "worker")
        return worker if worker["status"] == "unreadable" else None

    worker = served.wait_for(unreadable, timeout=20, what="worker unreadable")
    assert "limits.max_file_bytes" in str(worker["reason"]) and head[:12] in str(worker["reason"])
    served.cli("submit", "worker")  # the refusal again, asked for by hand: no second notice
    listed = served.cli("agents")
    assert listed.returncode == 0 and f"worker is unreadable: {worker['reason']}" in listed.stdout
    notices = [
        m for m in served.json("recv", "manager")["messages"] if m["kind"] == "agent_unreadable"
    ]
    assert len(notices) == 1 and notices[0]["data"]["agent"] == "worker", notices
    assert served.process is not None
    peak = _peak_rss(served.process.pid)
    assert peak < PEAK_RSS_LIMIT, f"controller peak RSS {peak / MIB:.0f} MB"
    # The other agents go on: a commit of other's is pinned as ever.
    other = served.proposed("other")
    (other / "prompt.md").write_text("# other\n\nStill here.\n")
    git(other, "commit", "-qam", "other moves on")
    other_head = git(other, "rev-parse", "HEAD")
    served.wait_for(
        lambda: (p := served.pending_for("other")) and p["head"] == other_head, what="other"
    )
