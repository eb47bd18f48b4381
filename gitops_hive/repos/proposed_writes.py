"""The one write the controller makes into an untrusted proposed/: a pushed commit added as a
pack (or as loose objects) and main moved to it. Both go through folder fds reached by the
confined walk (no link followed), land by rename, and take the owner of the folder they land
in, so the agent that owns the repo keeps writing there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType, SortMode

from gitops_hive.errors import Conflict, HiveError
from gitops_hive.repos.confined import NEW_FILE_FLAGS, ConfinedDir
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.loose_writes import write_loose
from gitops_hive.repos.opening import open_applied
from gitops_hive.repos.proposed_odb import MAX_PACKS, PACK_STEM
from gitops_hive.repos.refs import read_head

# Past this many packs a push is added as loose objects: git's own `gc --auto` folds packs
# past 50, but a manager that only pushes never runs it, and the controller reads at most
# MAX_PACKS.
LOOSE_AT_PACKS = MAX_PACKS // 2


def _own_like(path: int | str, folder: os.stat_result) -> None:
    """Give what the controller made the owner of the folder it lands in (when allowed)."""
    if (folder.st_uid, folder.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        if isinstance(path, int):
            os.fchown(path, folder.st_uid, folder.st_gid)
        else:
            os.chown(path, folder.st_uid, folder.st_gid, follow_symlinks=False)
    except PermissionError:  # not root: the repo is the controller user's own anyway
        pass


def _required_dir(repo: ConfinedDir, rel: str) -> int:
    fd = repo.open_dir(rel)
    if fd is None:
        raise HiveError(f"{repo.path.parent}: {rel} is missing; {PROPOSED_ADVICE}")
    return fd


@translated("add the pushed commit to proposed/", PROPOSED_ADVICE)
def add_to_proposed(git_dir: Path, source: Path, sha: str, expected: str | None) -> None:
    """Add `sha` and its history from `source` (a repo the controller made) to proposed/ as
    one pack (as loose objects once it holds LOOSE_AT_PACKS packs), then move proposed/ main
    from `expected` to `sha` (refused if it moved since)."""
    source_repo = open_applied(source)
    repo = ConfinedDir(git_dir)
    try:
        packs = _required_dir(repo, "objects/pack")
        try:
            if _pack_count(packs) < LOOSE_AT_PACKS:
                packing = source / "hive-pack"
                packing.mkdir()
                _pack_history(source_repo, sha, expected, packing)
                _move_pack_in(packing, packs)
            else:
                objects = _required_dir(repo, "objects")
                try:
                    write_loose(objects, _history(source_repo, sha, expected), _own_like)
                finally:
                    os.close(objects)
        finally:
            os.close(packs)
        heads = _required_dir(repo, "refs/heads")
        try:
            _move_main(git_dir, heads, sha, expected)
        finally:
            os.close(heads)
    finally:
        repo.close()


def _pack_count(packs: int) -> int:
    """How many packs objects/pack holds (by their .idx), counted no further than the limit."""
    count = 0
    with os.scandir(packs) as entries:
        for entry in entries:
            if entry.name.endswith(".idx") and PACK_STEM.fullmatch(entry.name[:-4]):
                count += 1
                if count >= MAX_PACKS:
                    break
    return count


def _new_commits(repo: pygit2.Repository, sha: str, expected: str | None) -> pygit2.Walker:
    """The commits from `sha` back to (not into) `expected`; all of history when proposed/
    main is not an ancestor (a forced rewrite) or there is none."""
    walk = repo.walk(pygit2.Oid(hex=sha), SortMode.TOPOLOGICAL)
    if expected is not None and pygit2.Oid(hex=expected) in repo.odb:
        walk.hide(pygit2.Oid(hex=expected))
    return walk


def _pack_history(repo: pygit2.Repository, sha: str, expected: str | None, into: Path) -> None:
    """One pack of the new commits, each with its tree (add_recur takes a commit's tree,
    never its parents)."""
    builder = pygit2.PackBuilder(repo)
    for commit in _new_commits(repo, sha, expected):
        builder.add_recur(commit.id)
    builder.write(str(into))


def _history(
    repo: pygit2.Repository, sha: str, expected: str | None
) -> Iterator[tuple[int, bytes]]:
    """What _pack_history packs, one (kind, body) at a time: each new commit, its tree and
    everything in it (a submodule's commit is not in the repo, and not followed)."""
    seen: set[pygit2.Oid] = set()
    for commit in _new_commits(repo, sha, expected):
        stack = [commit.id, commit.tree_id]
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            kind, body = repo.odb.read(oid)
            yield int(kind), body
            if kind == ObjectType.TREE:
                tree = repo[oid]
                assert isinstance(tree, pygit2.Tree)
                stack.extend(e.id for e in tree if e.filemode != FileMode.COMMIT)


def _move_pack_in(packing: Path, packs: int) -> None:
    folder = os.fstat(packs)
    # The .idx last: git finds a pack by its index, so it never sees one half moved in.
    for made in sorted(packing.iterdir(), key=lambda p: (p.suffix == ".idx", p.name)):
        _own_like(str(made), folder)
        os.chmod(made, 0o444)
        os.rename(made, made.name, dst_dir_fd=packs)


def _move_main(git_dir: Path, heads: int, sha: str, expected: str | None) -> None:
    folder = os.fstat(heads)
    try:
        lock = os.open("main.lock", NEW_FILE_FLAGS, 0o644, dir_fd=heads)
    except FileExistsError:
        raise Conflict(
            f"{git_dir.parent}: main is locked (refs/heads/main.lock): a commit is under way "
            "there; push again in a moment"
        ) from None
    try:
        try:
            os.write(lock, f"{sha}\n".encode())
            _own_like(lock, folder)
            os.fsync(lock)
        finally:
            os.close(lock)
        if read_head(git_dir) != expected:
            raise Conflict(f"{git_dir.parent}: main moved while the push was checked; push again")
        os.rename("main.lock", "main", src_dir_fd=heads, dst_dir_fd=heads)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink("main.lock", dir_fd=heads)
        raise
