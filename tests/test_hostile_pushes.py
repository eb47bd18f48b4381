"""Pushes of what is not a commit (a tree, a blob, an annotated tag) to a branch or refs/for/:
refused in one line saying what to push, with nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ServedHive
from tests.repo_factory import git
from tests.test_e2e_push import nothing_left, push, remote_lines, work  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("what", "kind"), [("HEAD^{tree}", "tree"), ("HEAD:agent.toml", "blob"), ("vtag", "tag")]
)
@pytest.mark.parametrize("prefix", ["refs/heads/", "refs/for/"])
def test_a_push_of_an_object_that_is_no_commit_is_refused_with_nothing_left(
    served: ServedHive,
    work: Path,  # noqa: F811
    what: str,
    kind: str,
    prefix: str,
) -> None:
    git(work, "tag", "-a", "-m", "a tag", "vtag")
    sha = git(work, "rev-parse", what)
    result = push(work, served.layout.hive_git, f"{sha}:{prefix}scout")
    assert result.returncode != 0
    refusal = [line for line in remote_lines(result) if line.startswith("hive: refused: ")]
    assert len(refusal) == 1, result.stderr
    assert f"is a {kind}, not a commit" in refusal[0] and "controller's own" not in refusal[0]
    nothing_left(served, "scout")
