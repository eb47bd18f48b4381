"""Push to create: real `git push` to a real hive.git, its real hooks, a real controller."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops_hive.repos.proposed_writes import LOOSE_AT_PACKS
from tests.conftest import ServedHive, run_hivectl
from tests.repo_factory import GIT_ENV, commit_step, git, make_repo

pytestmark = pytest.mark.e2e


def push(work: Path, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git push` from a clone, as the operator runs it; the hooks' lines are in stderr."""
    return subprocess.run(
        ["git", "-C", str(work), "push", str(target), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        timeout=120,
    )


def remote_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stderr.splitlines()
    return [line[len("remote: ") :].rstrip() for line in lines if line.startswith("remote: ")]


def nothing_left(hive: ServedHive, name: str) -> None:
    """No agent folder, no row, no ref in hive.git, no quarantine: the push left nothing."""
    assert not (hive.layout.agents_dir / name).exists()
    assert name not in [a["name"] for a in hive.json("agents")]
    refs = git(hive.layout.hive_git, "for-each-ref", "--format=%(refname)")
    assert name not in refs
    leftovers = [
        p.name for p in (hive.layout.hive_git / "objects").iterdir() if "incoming" in p.name
    ]
    assert leftovers == []
    assert [p for p in hive.layout.agents_dir.iterdir() if p.name.startswith(".")] == []


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The operator's clone: the worker fixture's first (valid) commit."""
    make_repo(tmp_path / "work", "worker", upto=1)
    return tmp_path / "work"


def test_init_makes_hive_git_with_the_push_hooks(hive_root: Path) -> None:
    hive_git = hive_root / "hive.git"
    for hook in ("pre-receive", "post-receive"):
        assert os.access(hive_git / "hooks" / hook, os.X_OK)
    assert git(hive_git, "config", "--get", "receive.advertisePushOptions") == "true"
    assert git(hive_git, "config", "--get", "hive.pushSocket").endswith("run/control.sock")


def test_a_push_of_a_new_name_makes_a_draft(served: ServedHive, work: Path) -> None:
    head = git(work, "rev-parse", "HEAD")
    result = push(work, served.layout.hive_git, "HEAD:refs/heads/scout")
    assert result.returncode == 0, result.stderr
    lines = remote_lines(result)
    assert f"hive: draft scout created from {head[:12]}: agent.toml is valid" in lines
    assert any("hivectl submit scout" in line for line in lines)
    assert any(
        "/agents/scout" in line and line.startswith("hive: dashboard: http") for line in lines
    )
    agent = next(a for a in served.json("agents") if a["name"] == "scout")
    assert agent["status"] == "draft"
    proposed = served.proposed("scout")
    assert git(proposed, "rev-parse", "main") == head
    assert git(proposed, "status", "--porcelain") == ""  # files and index checked out
    assert (proposed / "agent.toml").read_bytes() == (work / "agent.toml").read_bytes()
    assert served.json("pending") == []  # a draft waits for an explicit submit
    assert git(served.layout.hive_git, "rev-parse", "refs/heads/scout") == head


def test_a_push_to_refs_for_makes_a_pending_spawn_approval(served: ServedHive, work: Path) -> None:
    head = git(work, "rev-parse", "HEAD")
    result = push(work, served.layout.hive_git, "HEAD:refs/for/scout")
    assert result.returncode == 0, result.stderr
    pending = served.pending_for("scout")
    assert pending is not None and pending["kind"] == "spawn" and pending["head"] == head
    assert pending["source"].startswith("push by ")
    lines = remote_lines(result)
    assert f"hive: approval #{pending['id']} (spawn) is pending review" in lines
    assert any(f"hivectl approve {pending['id']} --sha {head}" in line for line in lines)
    # refs/for/ is a request, not a branch: gone again, so the next push there is new.
    assert git(served.layout.hive_git, "for-each-ref", "refs/for/") == ""


def test_a_push_that_sends_no_objects_reads_them_from_hive_git(
    served: ServedHive, work: Path
) -> None:
    """git makes no quarantine when the target has every object: the same commit pushed
    under a second name, then to refs/for/ of the first."""
    head = git(work, "rev-parse", "HEAD")
    assert push(work, served.layout.hive_git, "HEAD:refs/heads/scout").returncode == 0
    second = push(work, served.layout.hive_git, "HEAD:refs/heads/ranger")
    assert second.returncode == 0, second.stderr
    assert git(served.proposed("ranger"), "rev-parse", "main") == head
    submitted = push(work, served.layout.hive_git, "HEAD:refs/for/scout")
    assert submitted.returncode == 0, submitted.stderr
    assert "hive: scout: proposed/ main is already " + head[:12] in remote_lines(submitted)
    pending = served.pending_for("scout")
    assert pending is not None and pending["head"] == head and pending["kind"] == "spawn"


@pytest.mark.parametrize(
    ("ref", "said"),
    [
        ("HEAD:refs/heads/Bad_Name", "invalid agent name 'Bad_Name'"),
        ("HEAD:refs/heads/operator", "agent name 'operator' is reserved"),
        ("HEAD:refs/tags/scout", "push to refs/heads/NAME"),
    ],
    ids=["bad-name", "reserved", "tag"],
)
def test_a_bad_name_is_refused_with_nothing_left(
    served: ServedHive, work: Path, ref: str, said: str
) -> None:
    result = push(work, served.layout.hive_git, ref)
    assert result.returncode != 0
    refusal = [line for line in remote_lines(result) if line.startswith("hive: refused: ")]
    assert len(refusal) == 1 and said in refusal[0], result.stderr
    for name in ("Bad_Name", "operator", "scout"):
        nothing_left(served, name)


def test_an_invalid_spec_is_refused_with_nothing_left(served: ServedHive, work: Path) -> None:
    commit_step(work, "worker", "03-invalid-spec")
    result = push(work, served.layout.hive_git, "HEAD:refs/heads/scout")
    assert result.returncode != 0
    refusal = [line for line in remote_lines(result) if line.startswith("hive: refused: ")]
    assert len(refusal) == 1 and "is not a valid agent: agent.toml" in refusal[0], result.stderr
    nothing_left(served, "scout")


def test_a_file_over_the_limit_is_refused_before_it_is_read(served: ServedHive, work: Path) -> None:
    (work / "big.bin").write_bytes(os.urandom(1_048_577))  # limits.max_file_bytes + 1
    git(work, "add", "-A")
    git(work, "commit", "-qm", "too big")
    result = push(work, served.layout.hive_git, "HEAD:refs/heads/scout")
    assert result.returncode != 0
    refusal = [line for line in remote_lines(result) if line.startswith("hive: refused: ")]
    assert len(refusal) == 1 and "over limits.max_file_bytes" in refusal[0], result.stderr
    nothing_left(served, "scout")


def test_a_deletion_is_refused_and_the_agent_stays(served: ServedHive, work: Path) -> None:
    assert push(work, served.layout.hive_git, "HEAD:refs/heads/scout").returncode == 0
    result = push(work, served.layout.hive_git, ":refs/heads/scout")
    assert result.returncode != 0
    assert any("deleting a branch removes no agent" in line for line in remote_lines(result))
    assert git(served.layout.hive_git, "rev-parse", "--verify", "-q", "refs/heads/scout")
    assert (served.layout.agents_dir / "scout").is_dir()


def test_a_push_to_an_agent_moves_its_proposed_main(served: ServedHive, work: Path) -> None:
    assert served.cli("draft", "manager").returncode == 0
    assert push(work, served.layout.hive_git, "HEAD:refs/heads/scout").returncode == 0
    before = git(work, "rev-parse", "HEAD")
    between = commit_step(work, "worker", "02-add-tool")
    (work / "prompt.md").write_text("Two commits in one push.\n")
    git(work, "commit", "-qam", "a second commit")
    after = git(work, "rev-parse", "HEAD")
    result = push(work, served.layout.hive_git, "HEAD:refs/heads/scout")
    assert result.returncode == 0, result.stderr
    assert f"hive: scout: proposed/ main moved {before[:12]}..{after[:12]}" in remote_lines(result)
    proposed = served.proposed("scout")
    assert git(proposed, "rev-parse", "main") == after
    assert git(proposed, "fsck", "--no-dangling") == ""
    assert git(proposed, "rev-list", "main").split() == [after, between, before]
    # The manager works in that repo, whose work tree still has the old files: it is told.
    (notice,) = served.json("recv", "manager")["messages"]
    assert (
        notice["kind"] == "proposed_pushed" and f"-C {proposed} reset --hard main" in notice["body"]
    )
    # A submission pins it from proposed/ as for any commit there.
    submitted = served.json("submit", "scout")
    assert submitted["head"] == after


def test_a_repo_near_the_pack_limit_gets_pushes_as_loose_objects(
    served: ServedHive, work: Path
) -> None:
    """A manager that only pushes never runs `git gc --auto`; past LOOSE_AT_PACKS packs
    (here made by the manager's own repacks) a push adds loose objects, not one more pack,
    so the repo never reaches the most packs the controller reads."""
    assert push(work, served.layout.hive_git, "HEAD:refs/heads/scout").returncode == 0
    proposed = served.proposed("scout")
    for step in range(LOOSE_AT_PACKS):
        (proposed / "prompt.md").write_text(f"The manager's own step {step}.\n")
        git(proposed, "commit", "-qam", f"step {step}")
        git(proposed, "repack", "-q")  # one more pack, as each push used to make
    packs = sorted((proposed / ".git" / "objects" / "pack").glob("*.pack"))
    assert len(packs) >= LOOSE_AT_PACKS
    git(work, "pull", "-q", str(proposed), "main")
    for step in range(2):
        (work / "prompt.md").write_text(f"Pushed {step}.\n")
        git(work, "commit", "-qam", f"pushed {step}")
        result = push(work, served.layout.hive_git, "HEAD:refs/heads/scout")
        assert result.returncode == 0, result.stderr
    assert sorted((proposed / ".git" / "objects" / "pack").glob("*.pack")) == packs
    assert git(proposed, "rev-parse", "main") == git(work, "rev-parse", "HEAD")
    assert git(proposed, "fsck", "--no-dangling", "--strict") == ""
    (scout,) = (a for a in served.json("agents") if a["name"] == "scout")
    assert scout["status"] == "draft" and not scout.get("unreadable")
    assert served.json("submit", "scout")["head"] == git(work, "rev-parse", "HEAD")


def test_a_rewrite_is_refused_unless_forced_and_then_flagged(
    served: ServedHive, work: Path
) -> None:
    served.deploy("scout")
    deployed = git(served.proposed("scout"), "rev-parse", "main")
    git(work, "fetch", "-q", str(served.proposed("scout")), "main")
    git(work, "reset", "-q", "--hard", "FETCH_HEAD")
    commit_step(work, "worker", "02-add-tool")
    assert push(work, served.layout.hive_git, "HEAD:refs/heads/scout").returncode == 0
    # A commit that does not contain proposed/ main: an amended one.
    git(work, "commit", "-q", "--amend", "-m", "rewritten")
    refused = push(work, served.layout.hive_git, "-f", "HEAD:refs/heads/scout")
    assert refused.returncode != 0
    assert any("non-fast-forward" in line and "-o force" in line for line in remote_lines(refused))
    forced = push(work, served.layout.hive_git, "-f", "-o", "force", "HEAD:refs/for/scout")
    assert forced.returncode == 0, forced.stderr
    assert any("forced: review flags it" in line for line in remote_lines(forced))
    pending = served.pending_for("scout")
    assert pending is not None and pending["head"] == git(work, "rev-parse", "HEAD")
    assert pending["base"] == deployed
    shown = served.json("show", str(pending["id"]))
    assert shown["rewrites_history"] is True


def test_with_no_controller_the_push_is_refused_saying_how_to_start_one(
    hive_root: Path, work: Path
) -> None:
    result = push(work, hive_root / "hive.git", "HEAD:refs/heads/scout")
    assert result.returncode != 0
    line = next(line for line in remote_lines(result) if line.startswith("hive: refused"))
    assert "the controller is not running" in line and f"hivectl --root {hive_root} serve" in line
    assert not (hive_root / "agents" / "scout").exists()
    assert git(hive_root / "hive.git", "for-each-ref") == ""
    assert run_hivectl(hive_root, "init").returncode == 0  # init again leaves hive.git alone
