"""What every part of the package shares: the main ref, the hive's signature, peeling, blobs."""

from __future__ import annotations

import time

import pygit2

from gitops_hive.errors import HiveError

MAIN = "refs/heads/main"
MODEL_NOTES_REF = "refs/notes/hive/model"
HIVE_SIGNATURE = ("gitops-hive", "hive@localhost")


def signature() -> pygit2.Signature:
    """The controller's signature on the commits, tags and notes it writes, stamped now."""
    return pygit2.Signature(*HIVE_SIGNATURE, int(time.time()), 0)


def peel_commit(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Commit:
    """The commit an id names, through any tags."""
    obj = repo[oid]
    commit: pygit2.Commit = obj if isinstance(obj, pygit2.Commit) else obj.peel(pygit2.Commit)
    return commit


def peel_tree(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Tree:
    """The tree an id names: a tree, or a commit's (or a tag's) tree."""
    obj = repo[oid]
    return obj if isinstance(obj, pygit2.Tree) else obj.peel(pygit2.Tree)


def blob_data(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    """A file's bytes; a HiveError when the id names something else."""
    obj = repo[oid]
    if not isinstance(obj, pygit2.Blob):
        raise HiveError(f"object {oid} is not a file")
    return obj.data
