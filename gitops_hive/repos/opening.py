"""Opening and creating repos: libgit2 kept from the user's config, proposed/ opened hardened."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pygit2
from pygit2.enums import Option, RepositoryOpenFlag

from gitops_hive.errors import HiveError, NotFound
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.loose import PACK_VIEWS, untrusted_odb
from gitops_hive.repos.objects import MAIN, signature

_OWNER_CHECK_OFF = threading.Lock()  # held while libgit2's owner check is lifted


@translated("make an empty config folder for libgit2", "check that the hive root is writable")
def isolate_from_user_config(empty_dir: Path) -> None:
    """Point libgit2's global, XDG and system config search at an empty folder."""
    empty_dir.mkdir(parents=True, exist_ok=True)
    for level in (
        pygit2.enums.ConfigLevel.GLOBAL,
        pygit2.enums.ConfigLevel.XDG,
        pygit2.enums.ConfigLevel.SYSTEM,
    ):
        pygit2.settings.search_path[level] = str(empty_dir)


@translated("make the folder for pack views", "check that the hive root is writable")
def place_pack_views(folder: Path) -> None:
    """Keep the folders through which libgit2 reads proposed/ packs under `folder` (run/)."""
    PACK_VIEWS.place(folder)


@translated("open the repo", PROPOSED_ADVICE)
def open_untrusted(git_dir: Path) -> pygit2.Repository:
    """Open a proposed/ repo's .git folder for reading only: no discovery, no gitfile."""
    try:
        info = os.lstat(git_dir)
    except FileNotFoundError:
        raise NotFound(f"no repository at {git_dir.parent}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise HiveError(f"{git_dir} is not a plain folder; refusing to follow it")
    for borrowed in ("objects/info/alternates", "commondir"):
        if os.path.lexists(git_dir / borrowed):
            raise HiveError(
                f"{git_dir} borrows objects from elsewhere ({borrowed}); remove that file"
            )
    if os.path.islink(git_dir / "objects"):
        raise HiveError(f"{git_dir}/objects is a symlink; refusing to follow it")
    flags = RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE
    with _OWNER_CHECK_OFF:
        # Under nspawn a proposed/ repo belongs to an agent's uid, not ours. libgit2 refuses
        # a repo another user owns; we lift that for this read-only open alone.
        pygit2.option(Option.SET_OWNER_VALIDATION, False)
        try:
            repo = pygit2.Repository(str(git_dir), flags)
        finally:
            pygit2.option(Option.SET_OWNER_VALIDATION, True)
    repo.set_odb(untrusted_odb(git_dir))
    return repo


@translated("open the repo")
def open_applied(path: Path) -> pygit2.Repository:
    """Open a bare repo the controller itself writes (applied.git)."""
    return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE)


@translated("create the repo")
def init_applied(path: Path) -> None:
    """Create the bare desired-state repo, with a reflog on every ref."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    repo.config["core.logAllRefUpdates"] = "always"


@translated("create the repo")
def init_proposed(path: Path, files: dict[str, bytes], message: str) -> str:
    """Create a work-tree repo with `files` as its first commit on main; return its sha."""
    repo = pygit2.init_repository(str(path), bare=False, initial_head="main")
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        repo.index.add(rel)
    repo.index.write()
    tree = repo.index.write_tree()
    sig = signature()
    return str(repo.create_commit(MAIN, sig, sig, message, tree, []))


@translated("write the repo's config")
def set_repo_config(git_dir: Path, values: dict[str, str]) -> None:
    """Set config values of a repo the controller created (a new draft's proposed/)."""
    repo = pygit2.Repository(str(git_dir), RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE)
    for key, value in values.items():
        repo.config[key] = value
