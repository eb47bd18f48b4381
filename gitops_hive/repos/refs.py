"""Refs: proposed/ main and a submitted name resolved once, applied.git's refs moved with a log."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from gitops_hive.errors import Conflict, NotFound
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.objects import MAIN, peel_commit, signature
from gitops_hive.repos.opening import open_applied, open_untrusted
from gitops_hive.repos.ref_writes import ref_written

HEX_PREFIX = re.compile("[0-9a-f]{4,40}")
# What an agent listing reads of proposed/: its main (applied.git's writes are counted instead).
PROPOSED_REFS = (MAIN,)  # read_head reads main, whatever HEAD names
RefStamp = tuple[tuple[int, int, int, int] | None, ...]


def proposal_ref(approval_id: int) -> str:
    """Where a submitted commit is pinned in applied.git."""
    return f"refs/hive/proposals/{approval_id}"


def deployed_ref(approval_id: int) -> str:
    """The mirror ref of a deployed approval."""
    return f"refs/hive/deployed/{approval_id}"


def denied_ref(approval_id: int) -> str:
    """The mirror ref (an annotated tag with the reason) of a denied approval."""
    return f"refs/hive/denied/{approval_id}"


def failed_ref(approval_id: int) -> str:
    """The mirror ref of an approval whose build failed."""
    return f"refs/hive/failed/{approval_id}"


@translated("read refs/heads/main", PROPOSED_ADVICE)
def read_head(git_dir: Path) -> str | None:
    """The sha of proposed/ main, or None when the branch does not exist yet."""
    with open_untrusted(git_dir) as repo:
        return repo.refs.target(MAIN)


@translated("resolve the commit to submit", PROPOSED_ADVICE)
def resolve_commit(git_dir: Path, ref: str) -> str:
    """Resolve a branch, tag, full ref name or (abbreviated) sha in proposed/ to one full
    commit sha."""
    with open_untrusted(git_dir) as repo:
        candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        target = next(filter(None, (repo.refs.target(name) for name in candidates)), None)
        if target is None and HEX_PREFIX.fullmatch(ref.lower()):
            try:
                target = repo.objects.expand(ref)
            except ValueError:
                raise Conflict(f"sha prefix {ref} is ambiguous: give more digits") from None
            except KeyError:
                target = None
        if target is None:
            raise NotFound(f"no commit {ref!r} in {git_dir.parent}: give a branch or a sha")
        kind, _ = repo.repo.odb.read_header(pygit2.Oid(hex=target))
        if kind not in (ObjectType.COMMIT, ObjectType.TAG):
            raise NotFound(f"{ref!r} in {git_dir.parent} names no commit: give a branch or a sha")
        return str(peel_commit(repo.repo, target).id)


@translated("move a ref")
def set_ref(repo_path: Path, name: str, sha: str, message: str) -> None:
    """Create or move a ref, with a reflog entry."""
    repo = open_applied(repo_path)
    try:
        repo.create_reference_direct(name, pygit2.Oid(hex=sha), True, message=message)
    finally:
        ref_written(repo_path)


@translated("list refs")
def ref_names(repo_path: Path, prefix: str) -> set[str]:
    """The names of applied.git's refs under `prefix` (e.g. "refs/hive/")."""
    return {name for name in open_applied(repo_path).references if name.startswith(prefix)}


@translated("read a ref")
def get_ref(repo_path: Path, name: str) -> str | None:
    """The sha a ref of applied.git points at, or None when there is no such ref."""
    repo = open_applied(repo_path)
    ref = repo.references.get(name)
    return None if ref is None else str(ref.target)


@translated("write a tag")
def write_tag_ref(repo_path: Path, name: str, sha: str, tag: str, message: str) -> None:
    """Point `name` at an annotated tag object on `sha` carrying `message`."""
    repo = open_applied(repo_path)
    sig = signature()
    raw = (
        f"object {sha}\ntype commit\ntag {tag}\n"
        f"tagger {sig.name} <{sig.email}> {sig.time} +0000\n\n{message.rstrip()}\n"
    ).encode()
    tag_id = repo.odb.write(ObjectType.TAG, raw)
    try:
        repo.create_reference_direct(name, tag_id, True, message=f"hive: {tag}")
    finally:
        ref_written(repo_path)


def ref_stamps(git_dirs: list[str], names: tuple[str, ...]) -> list[RefStamp]:
    """For each repo, a value that changes whenever one of the ref files `names` (or
    packed-refs) moves: those files lstat'ed, no libgit2 and nothing followed, so it is cheap
    for a thousand repos and harmless on an untrusted one. The change time is in it: a file
    written in place with its old size and its mtime set back still changes it."""
    stamps: list[RefStamp] = []
    files = (*names, "packed-refs")
    for git_dir in git_dirs:
        stamp: list[tuple[int, int, int, int] | None] = []
        for name in files:
            try:
                found = os.lstat(f"{git_dir}/{name}")  # a str: a thousand repos, no Path joins
            except OSError:
                stamp.append(None)
            else:
                stamp.append((found.st_mtime_ns, found.st_ctime_ns, found.st_ino, found.st_size))
        stamps.append(tuple(stamp))
    return stamps
