"""Pinning: a commit of proposed/ and the history applied.git lacks, copied within a budget."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

from gitops_hive.errors import HiveError, LimitExceeded
from gitops_hive.repos.caps import ObjectCaps
from gitops_hive.repos.failures import APPLIED_ADVICE, PROPOSED_ADVICE, reading, translated
from gitops_hive.repos.objects import peel_commit, peel_tree
from gitops_hive.repos.opening import open_applied, open_untrusted

Found = dict[pygit2.Oid, tuple[ObjectType, bytes, list[pygit2.Oid]]]


@translated("copy the commit into applied.git", PROPOSED_ADVICE)
def copy_commit(
    src_git: Path, dst: Path, sha: str, budget_bytes: int, max_file_bytes: int | None = None
) -> int:
    """Copy a commit and the history behind it that dst lacks; return the bytes copied.

    Each object's size is read from its header first: a file over `max_file_bytes`, or an
    object over what is left of `budget_bytes`, is refused before it is inflated.
    """
    file_cap = budget_bytes if max_file_bytes is None else min(max_file_bytes, budget_bytes)
    with open_untrusted(src_git, ObjectCaps(blob=file_cap, other=budget_bytes)) as src:
        found = read_history(
            src.repo, src.dir.path.parent, open_applied(dst), sha, budget_bytes, max_file_bytes
        )
    with reading(dst, "store the copied objects", APPLIED_ADVICE):
        write_children_first(open_applied(dst), found)
    return sum(len(body) for _, body, _ in found.values())


def read_history(
    src: pygit2.Repository,
    label: Path,
    dst_repo: pygit2.Repository,
    sha: str,
    budget: int,
    file_cap: int | None,
) -> Found:
    """Every object of `sha`'s history that dst lacks, read from `src` (the repo at `label`,
    untrusted) within the caps."""
    copied = 0
    # Everything is read first and written only once the walk succeeded: a refusal (budget,
    # missing object) must not leave a commit in dst whose objects are missing, since a
    # later copy stops at any object dst already has.
    found: Found = {}
    _require_commit(src, dst_repo, sha, label)
    queue: deque[pygit2.Oid] = deque([pygit2.Oid(hex=sha)])
    while queue:
        oid = queue.popleft()
        if oid in found or oid in dst_repo.odb:
            continue
        try:
            kind, size = src.odb.read_header(oid)
        except KeyError:
            raise HiveError(f"object {oid} missing from {label}: the repo is incomplete") from None
        if kind == ObjectType.BLOB and file_cap is not None and size > file_cap:
            raise LimitExceeded(
                f"commit {sha[:12]} brings a file of {size} bytes (blob {oid}), over "
                f"limits.max_file_bytes ({file_cap}); remove it from proposed/'s history"
            )
        copied += size
        if copied > budget:
            raise LimitExceeded(
                f"commit {sha} brings more than {budget} bytes of history; "
                "squash it or raise limits.max_tree_bytes"
            )
        obj_type, data = src.odb.read(oid)
        children: list[pygit2.Oid] = []
        if obj_type == ObjectType.COMMIT:
            commit = peel_commit(src, oid)
            children = [commit.tree_id, *commit.parent_ids]
        elif obj_type == ObjectType.TREE:
            children = [e.id for e in peel_tree(src, oid) if e.filemode != FileMode.COMMIT]
        found[oid] = (obj_type, data, children)
        queue.extend(children)
    return found


def _require_commit(
    src: pygit2.Repository, dst_repo: pygit2.Repository, sha: str, label: Path
) -> None:
    """Refuse a sha that names a tree, a blob or a tag: only a commit is an agent's state."""
    oid = pygit2.Oid(hex=sha)
    for repo in (dst_repo, src):
        try:
            kind, _ = repo.odb.read_header(oid)
        except KeyError:
            continue
        if kind != ObjectType.COMMIT:
            raise HiveError(
                f"{sha[:12]} is a {ObjectType(kind).name.lower()}, not a commit: give a "
                "commit (a branch, HEAD or a commit's sha)"
            )
        return
    raise HiveError(f"object {sha} missing from {label}: the repo is incomplete")


def write_children_first(dst_repo: pygit2.Repository, found: Found) -> None:
    """Store what `read_history` found, each object after those it points at."""
    # Write each object after the objects it points at (depth-first, post-order), so dst
    # never holds a commit or tree with missing objects, even if the controller dies here.
    written: set[pygit2.Oid] = set()
    for root in found:
        stack = [(root, False)]
        while stack:
            oid, children_done = stack.pop()
            if oid in written or oid not in found:
                continue
            kind, body, links = found[oid]
            if children_done:
                dst_repo.odb.write(kind, body)
                written.add(oid)
            else:
                stack.append((oid, True))
                stack.extend((child, False) for child in links if child not in written)
