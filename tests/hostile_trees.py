"""Trees a manager can commit into proposed/.git with no work tree behind them: thousands of
folders deep, or of files wide, written straight into the object database (here with pygit2)."""

from __future__ import annotations

from collections.abc import Callable

import pygit2
from pygit2.enums import FileMode

from gitops_hive.layout import HiveLayout

MANAGER_SIG = pygit2.Signature("manager", "manager@hive.test", 1_700_000_000, 0)


def nested(repo: pygit2.Repository, depth: int, blob: pygit2.Oid) -> pygit2.Oid:
    """A tree holding `depth` folders, one inside the other, a file at the bottom."""
    builder = repo.TreeBuilder()
    builder.insert("bottom.txt", blob, FileMode.BLOB)
    tree = builder.write()
    for _ in range(depth):
        builder = repo.TreeBuilder()
        builder.insert("d", tree, FileMode.TREE)
        tree = builder.write()
    return tree


def wide(repo: pygit2.Repository, files: int, blob: pygit2.Oid) -> pygit2.Oid:
    """One folder of `files` files, all the same blob."""
    builder = repo.TreeBuilder()
    for index in range(files):
        builder.insert(f"f{index:06d}.txt", blob, FileMode.BLOB)
    return builder.write()


def grid(repo: pygit2.Repository, folders: int, files: int, blob: pygit2.Oid) -> pygit2.Oid:
    """`folders` folders of `files` files each (dir000/file0000.txt ...), one blob for all:
    a proposal of folders * files files in a few MB of objects."""
    folder = wide(repo, files, blob)
    builder = repo.TreeBuilder()
    for index in range(folders):
        # Distinct folders need distinct trees only in name: git shares the subtree object.
        builder.insert(f"dir{index:03d}", folder, FileMode.TREE)
    return builder.write()


def commit_into_proposed(
    layout: HiveLayout, name: str, add: Callable[[pygit2.Repository], pygit2.Oid], folder: str
) -> str:
    """Commit on proposed/ main: its tree plus `folder` holding the tree `add` writes."""
    repo = pygit2.Repository(str(layout.agent(name).proposed_git))
    parent = repo.head.peel(pygit2.Commit)
    builder = repo.TreeBuilder(parent.tree)
    builder.insert(folder, add(repo), FileMode.TREE)
    oid = repo.create_commit(
        "refs/heads/main", MANAGER_SIG, MANAGER_SIG, "hostile tree", builder.write(), [parent.id]
    )
    return str(oid)
