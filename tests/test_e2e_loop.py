"""The loop as the manager drives it: commits, force-pushes, failed starts, rollback, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import ServedHive
from tests.repo_factory import commit_step, git

pytestmark = pytest.mark.e2e


def applied_refs(served: ServedHive, agent: str, prefix: str = "refs/hive") -> dict[str, str]:
    out = git(
        served.layout.agent(agent).applied,
        "for-each-ref",
        "--format=%(refname) %(objectname) %(*objectname)",
        prefix,
    )
    refs = {}
    for line in out.splitlines():
        name, obj, peeled = [*line.split(" "), ""][:3]
        refs[name] = peeled or obj
    return refs


def applied_main(served: ServedHive, agent: str) -> str:
    return git(served.layout.agent(agent).applied, "rev-parse", "refs/heads/main")


def test_a_commit_becomes_pending_and_a_newer_one_supersedes_it(served: ServedHive) -> None:
    deployed = served.deploy("worker")["head"]
    repo = served.proposed("worker")
    first = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the first commit")
    assert (pending["head"], pending["base"], pending["kind"]) == (first, deployed, "apply")
    assert (
        applied_refs(served, "worker", "refs/hive/proposals")[
            f"refs/hive/proposals/{pending['id']}"
        ]
        == first
    )

    (repo / "prompt.md").write_text("A newer prompt.\n")
    git(repo, "commit", "-qam", "newer")
    second = git(repo, "rev-parse", "HEAD")
    newer = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["head"] == second and p,
        what="the newer commit",
    )
    assert newer["id"] != pending["id"]
    statuses = {h["id"]: h["status"] for h in served.json("history", "worker")}
    assert statuses[pending["id"]] == "superseded"
    assert len(served.json("pending")) == 1

    git(repo, "reset", "-q", "--hard", deployed)  # back to what runs: nothing to submit
    served.wait_for(lambda: served.cli("agents").returncode == 0)
    assert [p["head"] for p in served.json("pending")] == [second]


def test_a_force_push_and_gc_after_submission_change_nothing(served: ServedHive) -> None:
    deployed = served.deploy("worker")["head"]
    repo = served.proposed("worker")
    reviewed = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    # The manager rewrites history and prunes: the reviewed commit is gone from proposed/.
    git(repo, "reset", "-q", "--hard", deployed)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert git(repo, "cat-file", "-t", reviewed, check=False) == ""
    assert served.pending_for("worker") == pending

    approved = served.cli("approve", str(pending["id"]), "--sha", reviewed)
    assert approved.returncode == 0, approved.stderr
    assert applied_main(served, "worker") == reviewed
    tree = served.layout.agent("worker").tree(reviewed)
    assert (tree / "tools" / "search.sh").is_file()
    heartbeat = served.layout.agent("worker").state / "heartbeat"
    served.wait_for(lambda: heartbeat.read_text().startswith(reviewed), what="the new agent")


def test_a_failed_start_leaves_main_and_the_running_agent(patient_served: ServedHive) -> None:
    served = patient_served  # its failing start must be seen failing
    deployed = served.deploy("worker")["head"]
    running_pid = served.json("agents")[0]["runtime"]["pid"]
    repo = served.proposed("worker")
    broken = commit_step(repo, "worker", "04-failing-start")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    result = served.cli("approve", str(pending["id"]), "--sha", broken)
    assert result.returncode == 1
    assert "SCRIPTED_AGENT_EXIT=3" in result.stderr
    entry = served.json("history", "worker")[0]
    assert (entry["id"], entry["status"]) == (pending["id"], "failed")
    assert applied_main(served, "worker") == deployed
    agent = served.json("agents")[0]
    assert (agent["deployed"], agent["runtime"]["sha"]) == (deployed, deployed)
    assert agent["runtime"]["pid"] == running_pid and agent["status"] == "running"
    shown = served.cli("show", str(pending["id"]))
    assert "build log" in shown.stdout and "SCRIPTED_AGENT_EXIT" in shown.stdout
    refs = applied_refs(served, "worker")
    assert refs[f"refs/hive/failed/{pending['id']}"] == broken


def test_git_alone_tells_the_history(served: ServedHive) -> None:
    spawn = served.deploy("worker")
    repo = served.proposed("worker")
    denied_head = commit_step(repo, "worker", "02-add-tool")
    denied = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert served.cli("deny", str(denied["id"]), "--reason", "not this week").returncode == 0
    refs = applied_refs(served, "worker")
    assert refs[f"refs/hive/deployed/{spawn['id']}"] == spawn["head"]
    assert refs[f"refs/hive/denied/{denied['id']}"] == denied_head
    tag = git(
        served.layout.agent("worker").applied, "cat-file", "-p", f"refs/hive/denied/{denied['id']}"
    )
    assert "not this week" in tag
    reflog = git(served.layout.agent("worker").applied, "reflog", "show", "refs/heads/main")
    assert f"approval #{spawn['id']}" in reflog
    # gc in applied.git keeps everything that was reviewed.
    git(served.layout.agent("worker").applied, "gc", "-q", "--prune=now")
    assert git(served.layout.agent("worker").applied, "cat-file", "-t", denied_head) == "commit"


def test_rollback_runs_the_earlier_tree_and_pauses_auto_submit(served: ServedHive) -> None:
    first = served.deploy("worker")["head"]
    repo = served.proposed("worker")
    second = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert served.cli("approve", str(pending["id"]), "--sha", second).returncode == 0

    result = served.cli("rollback", "worker")
    assert result.returncode == 0, result.stderr
    entry = served.json("history", "worker")[0]
    assert (entry["kind"], entry["status"]) == ("rollback", "deployed")
    applied = served.layout.agent("worker").applied
    main = applied_main(served, "worker")
    assert git(applied, "rev-parse", f"{main}^{{tree}}") == git(
        applied, "rev-parse", f"{first}^{{tree}}"
    )
    agent = served.json("agents")[0]
    assert agent["auto_submit"] is False and agent["deployed"] == main

    (repo / "prompt.md").write_text("Try again.\n")
    git(repo, "commit", "-qam", "again")
    again = git(repo, "rev-parse", "HEAD")
    assert served.pending_for("worker") is None  # paused
    resumed = served.cli("resume", "worker")
    assert resumed.returncode == 0, resumed.stderr
    assert served.pending_for("worker")["head"] == again  # type: ignore[index]
    to_unknown = served.cli("rollback", "worker", "--to", "abcdef0")
    assert to_unknown.returncode == 2 and "history" in to_unknown.stderr


def test_the_process_runtime_restarts_a_crashed_agent(served: ServedHive) -> None:
    served.deploy("worker")
    before = served.json("agents")[0]["runtime"]
    os.kill(before["pid"], signal.SIGKILL)  # the agent this test had the hive start
    after = served.wait_for(
        lambda: (
            (r := served.json("agents")[0]["runtime"])["pid"] not in (None, before["pid"])
            and r["state"] == "running"
            and r
        ),
        what="the restarted agent",
    )
    assert after["restarts"] == before["restarts"] + 1
    log = served.layout.agent("worker").log.read_text()
    assert log.count("--- start") >= 2
    with sqlite3.connect(served.layout.db) as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM events WHERE agent = 'worker'")]
    assert "container_crash" in kinds


def count_deployments(root: Path, approval_id: int) -> int:
    with sqlite3.connect(root / "hive.db") as db:
        (n,) = db.execute(
            "SELECT count(*) FROM deployments WHERE approval_id = ?", (approval_id,)
        ).fetchone()
    return int(n)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_during_a_build_converges(served: ServedHive, delay: float) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    approved = served.cli("approve", str(pending["id"]), "--sha", head, "--no-wait")
    assert approved.returncode == 0, approved.stderr
    if delay:
        time.sleep(delay)  # a different moment of the build each time
    served.stop(signal.SIGKILL)
    served.start()
    entry = served.wait_for(
        lambda: (
            (h := served.json("history", "worker")[0])["status"] in ("deployed", "failed") and h
        ),
        what="the build to finish after the restart",
    )
    assert entry["status"] == "deployed"
    assert count_deployments(served.root, pending["id"]) == 1
    agent = served.json("agents")[0]
    assert agent["deployed"] == head == applied_main(served, "worker")
    served.wait_for(
        lambda: served.json("agents")[0]["runtime"]["sha"] == head, what="the agent at main"
    )
    with sqlite3.connect(served.layout.db) as db:
        stuck = db.execute(
            "SELECT count(*) FROM approvals WHERE status IN ('approved', 'building')"
        ).fetchone()[0]
    assert stuck == 0


def test_commits_while_the_controller_is_down_are_picked_up(served: ServedHive) -> None:
    served.deploy("worker")
    served.stop(signal.SIGKILL)
    head = commit_step(served.proposed("worker"), "worker", "02-add-tool")
    served.start()
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the rescan at start")
    assert pending["head"] == head
    assert served.json("agents")[0]["pending"] == pending["id"]
