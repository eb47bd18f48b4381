"""Opening and creating repos: libgit2 kept from the user's config, proposed/ opened confined."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
from pygit2.enums import RepositoryOpenFlag

from gitops_hive.repos.caps import DEFAULT_CAPS, ObjectCaps
from gitops_hive.repos.confined import ConfinedDir, UnsafeEntry
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.objects import MAIN, MODEL_NOTES_REF, signature
from gitops_hive.repos.proposed_odb import ProposedObjects
from gitops_hive.repos.proposed_refs import ProposedRefs


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


# Entries the controller refuses to find at all, whatever they are: objects borrowed from
# elsewhere would let proposed/ name another repo's commits.
BORROWING = ("objects/info/alternates", "commondir")
# Files that must be plain files when present, looked at on every open: what git itself reads
# first, and the refs the controller reads by name.
FIXED_FILES = ("HEAD", "config", "packed-refs", MAIN, MODEL_NOTES_REF)


class ProposedRepo:
    """An untrusted repo open for reading: its refs read by the controller (`refs`), its
    objects through `ProposedObjects` behind an in-memory libgit2 repository (`repo`), which
    is never given a path of proposed/. Close it (or use it as a context manager)."""

    def __init__(self, git_dir: Path, caps: ObjectCaps) -> None:
        self.dir = ConfinedDir(git_dir)
        try:
            for borrowed in BORROWING:
                if self.dir.lexists(borrowed):
                    raise UnsafeEntry(f"{borrowed} borrows objects from elsewhere")
            for name in FIXED_FILES:
                fd = self.dir.open_file(name)
                if fd is not None:
                    os.close(fd)
            objects = self.dir.open_dir("objects")
            if objects is None:
                raise NotADirectoryError("objects is not a folder: this is not a git repo")
            os.close(objects)
            self.objects = ProposedObjects(self.dir, caps)
        except BaseException:
            self.dir.close()
            raise
        self.refs = ProposedRefs(self.dir)
        self.repo = pygit2.Repository()
        odb = pygit2.Odb()
        odb.add_backend(self.objects, 1)
        self.repo.set_odb(odb)
        self.repo.set_refdb(pygit2.Refdb.new(self.repo))

    def close(self) -> None:
        self.objects.close()
        self.dir.close()

    def __enter__(self) -> ProposedRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@translated("open the repo", PROPOSED_ADVICE)
def open_untrusted(git_dir: Path, caps: ObjectCaps = DEFAULT_CAPS) -> ProposedRepo:
    """Open a proposed/ repo's .git folder for reading only: no discovery, no gitfile, no
    symlink or special file followed, no object over `caps` inflated."""
    return ProposedRepo(git_dir, caps)


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
