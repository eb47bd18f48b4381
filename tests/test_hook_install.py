"""The notify hooks written into a proposed/ repo the manager may have booby-trapped: a
symlinked hooks folder, hook file or config is replaced, never written through; a .git that is
a link or a hook name that is a folder is refused; nothing outside the repo changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_hive.errors import HiveError
from gitops_hive.repos import write_hooks
from gitops_hive.resources import HOOK_NAMES, RETIRED_HOOK_NAMES, hooks_dir
from tests.repo_factory import git, make_repo

OUTSIDE = "the operator's file\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "proposed"
    make_repo(path, "worker")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the repo, holding one file, that no install may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "post-commit").write_text(OUTSIDE)
    (folder / "config").write_text(OUTSIDE)
    return folder


def results(writes: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {write.name: write.result for write in writes}


def each_hook(result: str, config: str) -> dict[str, str]:
    """What an install reports when every hook came out `result`."""
    return {**dict.fromkeys(HOOK_NAMES, result), "config": config}


def assert_ours(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    assert hooks.is_dir() and not hooks.is_symlink()
    for name in HOOK_NAMES:
        hook = hooks / name
        assert not hook.is_symlink()
        assert hook.read_bytes() == (hooks_dir() / name).read_bytes()
        assert hook.stat().st_mode & 0o777 == 0o755
    assert git(repo, "config", "hive.agent") == "worker"


def assert_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["config", "post-commit"]
    assert all(p.read_text() == OUTSIDE for p in outside.iterdir())


def test_a_fresh_install_then_a_second_one_changes_nothing(repo: Path, tmp_path: Path) -> None:
    first = results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    assert first == each_hook("installed", config="updated")
    assert_ours(repo)
    assert git(repo, "config", "hive.notifySocket") == str(tmp_path / "notify.sock")
    again = results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    assert set(again.values()) == {"unchanged"}


def test_a_hook_that_is_not_ours_is_replaced_and_an_old_one_of_ours_updated(
    repo: Path, tmp_path: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-commit").write_text("#!/bin/sh\ncurl http://example.invalid\n")
    writes = {w.name: w for w in write_hooks(repo, "worker", tmp_path / "notify.sock")}
    assert writes["post-commit"].result == "replaced"
    assert "not ours" in writes["post-commit"].detail
    (hooks / "post-commit").write_text("#!/bin/sh\n# gitops-hive: an old copy\n")
    writes = {w.name: w for w in write_hooks(repo, "worker", tmp_path / "notify.sock")}
    assert writes["post-commit"].result == "updated"
    assert_ours(repo)


@pytest.mark.parametrize("retired", RETIRED_HOOK_NAMES)
def test_a_retired_hook_of_ours_is_removed_and_one_not_ours_left(
    repo: Path, tmp_path: Path, retired: str
) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / retired).write_text("#!/bin/sh\n# gitops-hive: what an older release shipped\n")
    writes = {w.name: w for w in write_hooks(repo, "worker", tmp_path / "notify.sock")}
    assert writes[retired].result == "removed" and not (hooks / retired).exists()
    assert retired not in results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    theirs = "#!/bin/sh\necho the manager's own\n"
    (hooks / retired).write_text(theirs)
    assert retired not in results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    assert (hooks / retired).read_text() == theirs


def test_a_symlinked_hooks_folder_is_replaced_not_written_through(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    if hooks.exists():
        for entry in hooks.iterdir():
            entry.unlink()
        hooks.rmdir()
    hooks.symlink_to(outside)
    writes = results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    assert writes["hooks"] == "replaced"
    assert_ours(repo)
    assert_untouched(outside)


def test_a_symlinked_hook_or_config_is_replaced_not_written_through(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-commit").symlink_to(outside / "post-commit")
    (hooks / "reference-transaction").symlink_to(outside / "absent")  # not ours: left alone
    config = repo / ".git" / "config"
    config.unlink()
    config.symlink_to(outside / "config")
    writes = results(write_hooks(repo, "worker", tmp_path / "notify.sock"))
    assert writes == each_hook("replaced", config="replaced")
    assert_ours(repo)
    assert not config.is_symlink()
    assert_untouched(outside)


def test_a_git_folder_that_is_a_link_is_refused(tmp_path: Path, repo: Path, outside: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_repo(elsewhere, "worker")
    before = sorted(p.name for p in (elsewhere / ".git" / "hooks").iterdir())
    hijacked = tmp_path / "hijacked"
    hijacked.mkdir()
    (hijacked / ".git").symlink_to(elsewhere / ".git")
    with pytest.raises(HiveError, match="refusing"):
        write_hooks(hijacked, "worker", tmp_path / "notify.sock")
    assert sorted(p.name for p in (elsewhere / ".git" / "hooks").iterdir()) == before
    assert_untouched(outside)


def test_a_hook_name_that_is_a_folder_is_refused_in_one_line(repo: Path, tmp_path: Path) -> None:
    (repo / ".git" / "hooks" / "post-commit").mkdir(parents=True)
    with pytest.raises(HiveError) as refused:
        write_hooks(repo, "worker", tmp_path / "notify.sock")
    assert "is a folder" in refused.value.message and "\n" not in refused.value.message


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands files to another uid")
def test_what_root_writes_belongs_to_the_owner_of_the_repo(repo: Path, tmp_path: Path) -> None:
    manager = 54321  # under nspawn proposed/ belongs to the manager's uid range
    for path in (repo / ".git", *(repo / ".git").rglob("*")):
        os.lchown(path, manager, manager)
    hooks = repo / ".git" / "hooks"
    for entry in hooks.iterdir():
        entry.unlink()
    hooks.rmdir()
    write_hooks(repo, "worker", tmp_path / "notify.sock")
    made = [hooks, *(hooks / name for name in HOOK_NAMES), repo / ".git" / "config"]
    assert {(p.stat().st_uid, p.stat().st_gid) for p in made} == {(manager, manager)}
