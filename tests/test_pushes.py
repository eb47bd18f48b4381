"""A push's report checked (pure) and its quarantine read as untrusted (real repos)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.errors import HiveError, InvalidName, RepoUnreadable
from gitops_hive.pushes.updates import ZERO_SHA, parse_push
from tests.repo_factory import git, make_repo

OLD, NEW = "1" * 40, "2" * 40
QUARANTINE = "tmp_objdir-incoming-Ab12"


def report(*updates: tuple[str, str, str], options: Any = None) -> dict[str, Any]:
    return {
        "updates": [{"old": o, "new": n, "ref": r} for o, n, r in updates],
        "quarantine": f"/x/hive.git/objects/{QUARANTINE}",
        "options": options,
    }


def test_a_branch_is_a_draft_and_refs_for_a_submission() -> None:
    drafted = parse_push(report((ZERO_SHA, NEW, "refs/heads/scout")))
    assert (drafted.name, drafted.submit, drafted.force) == ("scout", False, False)
    submitted = parse_push(report((OLD, NEW, "refs/for/scout"), options=["force"]))
    assert (submitted.name, submitted.submit, submitted.force) == ("scout", True, True)


@pytest.mark.parametrize(
    ("body", "error", "said"),
    [
        (report((OLD, ZERO_SHA, "refs/heads/scout")), HiveError, "deleting a branch"),
        (report((OLD, NEW, "refs/heads/Scout")), InvalidName, "invalid agent name 'Scout'"),
        (report((OLD, NEW, "refs/for/hive")), InvalidName, "'hive' is reserved"),
        (report((OLD, NEW, "refs/heads/a/b")), InvalidName, "invalid agent name 'a/b'"),
        (report((OLD, NEW, "refs/tags/v1")), HiveError, "push to refs/heads/NAME"),
        (report((OLD, NEW, "refs/heads/a"), (OLD, NEW, "refs/heads/b")), HiveError, "2 refs"),
        (report(), HiveError, "no ref update"),
        (report((OLD, "HEAD", "refs/heads/a")), HiveError, "not a full sha"),
        (report((OLD, NEW, "refs/heads/a"), options=["x"]), HiveError, "unknown push option"),
        ([1, 2], HiveError, "must be a JSON object"),
    ],
)
def test_what_is_refused_says_why_in_one_line(body: Any, error: type, said: str) -> None:
    with pytest.raises(error) as refused:
        parse_push(body)
    message = str(refused.value)
    assert said in message and "\n" not in message


def quarantined(tmp_path: Path) -> tuple[Path, str]:
    """A bare target whose objects/ holds a quarantine with a clone's objects, as git's
    receive-pack leaves it while pre-receive runs."""
    work = tmp_path / "work"
    make_repo(work, "worker", upto=2)
    target = tmp_path / "hive.git"
    git(tmp_path, "init", "-q", "--bare", str(target))
    shutil.copytree(work / ".git" / "objects", target / "objects" / QUARANTINE)
    return target, git(work, "rev-parse", "HEAD")


def test_the_pushed_commit_is_copied_from_the_quarantine(tmp_path: Path) -> None:
    target, head = quarantined(tmp_path)
    git_dir = repos.init_empty_proposed(tmp_path / "proposed")
    assert repos.copy_pushed(target, QUARANTINE, git_dir, head, 1 << 24, 1 << 20) > 0
    repos.check_out_main(git_dir, head)
    assert git(tmp_path / "proposed", "status", "--porcelain") == ""
    assert git(tmp_path / "proposed", "rev-parse", "main") == head
    first = git(tmp_path / "proposed", "rev-parse", "main~1")
    assert repos.pushed_contains(target, QUARANTINE, head, first)
    assert not repos.pushed_contains(target, QUARANTINE, first, head)


@pytest.mark.parametrize("name", ["../../etc", "incoming", "objects", "tmp_objdir-x", "/"])
def test_only_a_quarantine_folder_of_gits_is_read(tmp_path: Path, name: str) -> None:
    target, head = quarantined(tmp_path)
    git_dir = repos.init_empty_proposed(tmp_path / "proposed")
    with pytest.raises(HiveError, match="quarantine"):
        repos.copy_pushed(target, name, git_dir, head, 1 << 24, 1 << 20)


@pytest.mark.parametrize("where", ["quarantine", "objects", "loose folder"])
def test_a_symlink_on_the_way_is_refused_not_followed(tmp_path: Path, where: str) -> None:
    """A hostile manager owns its push.git: a link to another repo's objects reads nothing."""
    target, head = quarantined(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    if where == "quarantine":
        os.rename(target / "objects" / QUARANTINE, elsewhere)
        os.symlink(elsewhere, target / "objects" / QUARANTINE)
    elif where == "objects":
        os.rename(target / "objects", elsewhere)
        os.symlink(elsewhere, target / "objects")
    else:
        loose = target / "objects" / QUARANTINE / head[:2]
        os.rename(loose, elsewhere)
        os.symlink(elsewhere, loose)
    git_dir = repos.init_empty_proposed(tmp_path / "proposed")
    with pytest.raises(RepoUnreadable):
        repos.copy_pushed(target, QUARANTINE, git_dir, head, 1 << 24, 1 << 20)
    assert git(tmp_path / "proposed", "count-objects") == "0 objects, 0 kilobytes"
