"""Real git repos from the plain file trees in fixtures/repos/, committed with the git CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "repos"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "manager",
    "GIT_AUTHOR_EMAIL": "manager@hive.test",
    "GIT_COMMITTER_NAME": "manager",
    "GIT_COMMITTER_EMAIL": "manager@hive.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    # Under nspawn a draft's proposed/ belongs to the manager's uid range from the moment it
    # is made (its live /agents view); a test commits there as root on the host, as an
    # operator would with safe.directory set.
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
}


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run the git CLI in `repo` the way the manager does, and return its stdout."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=check,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )
    return result.stdout.strip()


def fixture_steps(name: str) -> list[Path]:
    """The commit folders of a fixture repo, in order."""
    return sorted(p for p in (FIXTURES / name).iterdir() if p.is_dir())


def replace_tree(work_tree: Path, source: Path) -> None:
    """Make work_tree's files exactly source's (leaving .git alone)."""
    for entry in work_tree.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(source, work_tree, dirs_exist_ok=True, symlinks=True)


def commit_step(work_tree: Path, fixture: str, step: str, message: str | None = None) -> str:
    """Commit fixture step `step` (e.g. "02-add-tool") on top of work_tree; return the sha."""
    source = FIXTURES / fixture / step
    replace_tree(work_tree, source)
    git(work_tree, "add", "-A")
    git(work_tree, "commit", "-q", "--allow-empty", "-m", message or f"{fixture}: {step}")
    return git(work_tree, "rev-parse", "HEAD")


def make_repo(path: Path, fixture: str, upto: int | None = None) -> list[str]:
    """A new repo at path with the fixture's first `upto` commits; return their shas."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    steps = fixture_steps(fixture)[:upto]
    return [commit_step(path, fixture, step.name) for step in steps]
