"""Pinning: a commit of proposed/ and the history applied.git lacks, copied within a budget."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

from gitops_hive.errors import HiveError
from gitops_hive.repos.failures import APPLIED_ADVICE, PROPOSED_ADVICE, reading, translated
from gitops_hive.repos.objects import peel_commit, peel_tree
from gitops_hive.repos.opening import open_applied, open_untrusted

Found = dict[pygit2.Oid, tuple[ObjectType, bytes, list[pygit2.Oid]]]


@translated("copy the commit into applied.git", PROPOSED_ADVICE)
def copy_commit(src_git: Path, dst: Path, sha: str, budget_bytes: int) -> int:
    """Copy a commit and the history behind it that dst lacks; return the bytes copied."""
    src = open_untrusted(src_git)
    dst_repo = open_applied(dst)
    copied = 0
    # Everything is read first and written only once the walk succeeded: a refusal (budget,
    # missing object) must not leave a commit in dst whose objects are missing, since a
    # later copy stops at any object dst already has.
    found: Found = {}
    queue: deque[pygit2.Oid] = deque([pygit2.Oid(hex=sha)])
    while queue:
        oid = queue.popleft()
        if oid in found or oid in dst_repo.odb:
            continue
        try:
            obj_type, data = src.odb.read(oid)
        except KeyError:
            raise HiveError(
                f"object {oid} missing from {src_git.parent}: the repo is incomplete"
            ) from None
        copied += len(data)
        if copied > budget_bytes:
            raise HiveError(
                f"commit {sha} brings more than {budget_bytes} bytes of history; "
                "squash it or raise limits.max_tree_bytes"
            )
        children: list[pygit2.Oid] = []
        if obj_type == ObjectType.COMMIT:
            commit = peel_commit(src, oid)
            children = [commit.tree_id, *commit.parent_ids]
        elif obj_type == ObjectType.TREE:
            children = [e.id for e in peel_tree(src, oid) if e.filemode != FileMode.COMMIT]
        found[oid] = (obj_type, data, children)
        queue.extend(children)
    with reading(dst, "store the copied objects", APPLIED_ADVICE):
        _write_children_first(dst_repo, found)
    return copied


def _write_children_first(dst_repo: pygit2.Repository, found: Found) -> None:
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
