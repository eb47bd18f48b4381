"""What a push brought, read as untrusted: git's quarantine (the objects the push sent) over
the push target's own objects, both through the confined reader, never by a git process.

receive-pack keeps the pushed objects in a quarantine folder inside the target's objects/
until pre-receive accepts; the hook names that folder, and the controller reads it here while
the hook waits, so a refused push leaves nothing anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, RepositoryOpenFlag

from gitops_hive.errors import HiveError
from gitops_hive.repos.caps import DEFAULT_CAPS, ObjectCaps
from gitops_hive.repos.confined import ConfinedDir
from gitops_hive.repos.copying import read_history, write_children_first
from gitops_hive.repos.failures import translated
from gitops_hive.repos.objects import MAIN
from gitops_hive.repos.proposed_odb import ProposedObjects

# git names it tmp_objdir-incoming-XXXXXX (older versions: incoming-XXXXXX).
QUARANTINE_NAME = re.compile(r"(tmp_objdir-)?incoming-[A-Za-z0-9_]{1,64}")
PUSH_ADVICE = "push again; if it fails the same way, run git fsck in your clone"


def quarantine_name(raw: object) -> str | None:
    """The quarantine folder's own name, from the path the hook saw (its last part); None
    when there was none (git makes one only when the push sends objects)."""
    if raw == "":
        return None
    name = str(raw).rstrip("/").rsplit("/", 1)[-1] if isinstance(raw, str) else ""
    if not QUARANTINE_NAME.fullmatch(name):
        raise HiveError(
            "the hook sent no quarantine folder of git's (GIT_QUARANTINE_PATH): "
            "push with git 2.13 or newer through the hive's own pre-receive hook"
        )
    return name


class PushedRepo:
    """The objects a push can reach: its quarantine first (if it sent any), then the target's
    objects/, each behind `ProposedObjects` in an in-memory libgit2 repository (`repo`)."""

    def __init__(self, target: Path, quarantine: str, caps: ObjectCaps) -> None:
        self.target = ConfinedDir(target)
        self.backends: list[ProposedObjects] = []
        self.quarantine: ConfinedDir | None = None
        try:
            name = quarantine_name(quarantine)
            if name is not None:
                self.quarantine = ConfinedDir.within(
                    self.target, f"objects/{name}", objects_only=True
                )
                self.backends.append(ProposedObjects(self.quarantine, caps))
            self.backends.append(ProposedObjects(self.target, caps))
        except BaseException:
            self.close()
            raise
        self.repo = pygit2.Repository()
        odb = pygit2.Odb()
        for priority, backend in enumerate(reversed(self.backends), start=1):
            odb.add_backend(backend, priority)
        self.repo.set_odb(odb)
        self.repo.set_refdb(pygit2.Refdb.new(self.repo))

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        if self.quarantine is not None:
            self.quarantine.close()
        self.target.close()

    def __enter__(self) -> PushedRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@translated("read the pushed commits", PUSH_ADVICE)
def pushed_contains(target: Path, quarantine: str, sha: str, ancestor: str) -> bool:
    """Whether the pushed commit `sha` has `ancestor` in its history (a fast-forward)."""
    if sha == ancestor:
        return True
    with PushedRepo(target, quarantine, DEFAULT_CAPS) as pushed:
        if pygit2.Oid(hex=ancestor) not in pushed.repo.odb:
            return False
        return bool(pushed.repo.descendant_of(sha, ancestor))


@translated("copy the pushed commit", PUSH_ADVICE)
def copy_pushed(
    target: Path, quarantine: str, dst_git: Path, sha: str, budget: int, max_file: int
) -> int:
    """Copy a pushed commit and the history dst lacks into dst (a repo the controller made);
    return the bytes copied. Sizes are checked from headers before anything is inflated."""
    caps = ObjectCaps(blob=min(max_file, budget), other=budget)
    with PushedRepo(target, quarantine, caps) as pushed:
        dst = _open(dst_git)
        found = read_history(pushed.repo, target, dst, sha, budget, max_file)
    write_children_first(dst, found)
    return sum(len(body) for _, body, _ in found.values())


@translated("create the repo")
def init_push_repo(path: Path, config: dict[str, str]) -> None:
    """A new bare push target (main unborn) with `config` set."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    for key, value in config.items():
        repo.config[key] = value


@translated("create the repo")
def init_empty_proposed(path: Path) -> Path:
    """A new work-tree repo with no commit yet (main unborn); its .git folder."""
    return Path(pygit2.init_repository(str(path), bare=False, initial_head="main").path)


@translated("check out the pushed commit")
def check_out_main(git_dir: Path, sha: str) -> None:
    """Point main at `sha` (already copied in) and write its files and index: only for a repo
    the controller just made, whose commit passed validation."""
    repo = _open(git_dir)
    repo.references.create(MAIN, sha, force=True)
    repo.checkout(MAIN, strategy=CheckoutStrategy.FORCE)


def _open(git_dir: Path) -> pygit2.Repository:
    return pygit2.Repository(str(git_dir), RepositoryOpenFlag.NO_SEARCH)
