"""A pinned commit's files: listed with kinds and sizes, read one by one, or written to disk."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitops_hive.errors import HiveError
from gitops_hive.repos.failures import translated
from gitops_hive.repos.objects import blob_data, peel_tree
from gitops_hive.repos.opening import open_applied
from gitops_hive.validation import EntryKind, Limits, TreeCut, TreeEntry, TreeListing

KINDS = {
    FileMode.LINK: EntryKind.SYMLINK,
    FileMode.COMMIT: EntryKind.SUBMODULE,
    FileMode.BLOB_EXECUTABLE: EntryKind.EXECUTABLE,
}


@translated("list a commit's files")
def list_tree(repo_path: Path, sha: str, limits: Limits) -> TreeListing:
    """A commit's non-tree entries with kinds and sizes, in path order. The walk stops past
    `limits.max_files` files (or folders) or `limits.max_depth` nested folders, so a tree
    thousands deep or wide costs no more than one at the limits."""
    repo = open_applied(repo_path)
    entries: list[TreeEntry] = []
    folders = 0
    cut: TreeCut | None = None
    stack: list[tuple[bytes, int, pygit2.Tree]] = [(b"", 0, peel_tree(repo, sha))]
    while stack and cut is None:
        prefix, depth, tree = stack.pop()
        for entry in tree:
            path = prefix + (entry.raw_name or b"")
            if entry.filemode == FileMode.TREE:
                folders += 1
                if depth >= limits.max_depth:
                    cut = TreeCut.DEPTH
                elif folders > limits.max_files:
                    cut = TreeCut.FILES
                else:
                    stack.append((path + b"/", depth + 1, peel_tree(repo, entry.id)))
                    continue
                break
            kind = KINDS.get(entry.filemode, EntryKind.FILE)
            size = 0 if kind is EntryKind.SUBMODULE else len(blob_data(repo, entry.id))
            entries.append(TreeEntry(path, kind, size))
            if len(entries) > limits.max_files:
                cut = TreeCut.FILES
                break
    return TreeListing(tuple(sorted(entries, key=lambda e: e.path)), cut)


@translated("read a file of a commit")
def read_blob(repo_path: Path, sha: str, path: str) -> bytes | None:
    """A file of a commit, or None when absent or not a regular file."""
    repo = open_applied(repo_path)
    tree = peel_tree(repo, sha)
    try:
        entry = tree[path]
    except KeyError:
        return None
    if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
        return None
    return blob_data(repo, entry.id)


@translated("write a commit's files", "check the commit's tree (git fsck) and the disk")
def materialize(repo_path: Path, sha: str, dest: Path, limits: Limits) -> None:
    """Write a validated commit's regular files under dest (atomically; never a link)."""
    if dest.exists():
        return
    repo = open_applied(repo_path)
    listing = list_tree(repo_path, sha, limits)
    if listing.cut is not None:
        raise HiveError(f"commit {sha} is past the tree limits ({listing.cut.value}): not written")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        staging.chmod(0o755)  # read-only to the agent, whichever uid it runs as
        for entry in listing.entries:
            if entry.kind not in (EntryKind.FILE, EntryKind.EXECUTABLE):
                continue
            rel = entry.path.decode("utf-8", errors="surrogateescape")
            target = staging / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise HiveError(f"refusing unsafe path {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob_data(repo, peel_tree(repo, sha)[rel].id))
            if entry.kind is EntryKind.EXECUTABLE:
                os.chmod(target, 0o755)
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
