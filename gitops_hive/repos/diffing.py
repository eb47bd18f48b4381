"""Diffs of two pinned commits as records: forced text, the controller's own binary test, and
caps on how much is produced (files in full, lines, bytes read and shown, files listed), so a
proposal of 100,000 files costs what its first few thousand do."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, DiffOption, FileMode

from gitops_hive.diffs import DiffCaps, DiffLine, FileDiff, Hunk, ProposalDiff
from gitops_hive.errors import HiveError, NotFound
from gitops_hive.repos.failures import translated
from gitops_hive.repos.objects import blob_data, peel_tree
from gitops_hive.repos.opening import open_applied

MAX_DIFF_FILE_BYTES = 256 * 1024
MAX_DIFF_FILE_LINES = 3000
MAX_DIFF_TOTAL_LINES = 20000
TRUNCATED_NOTE = "diff size limit reached, not shown"
UNCAPPED = sys.maxsize
# Every file listed, each shown unless it is binary or past the per-file limits, until the
# total line budget is spent.
DEFAULT_CAPS = DiffCaps(
    full_files=UNCAPPED,
    file_lines=MAX_DIFF_FILE_LINES,
    file_bytes=MAX_DIFF_FILE_BYTES,
    total_lines=MAX_DIFF_TOTAL_LINES,
    shown_bytes=UNCAPPED,
    read_bytes=UNCAPPED,
    listed=UNCAPPED,
)
FLAGS = DiffOption.FORCE_TEXT | DiffOption.INCLUDE_TYPECHANGE
ZERO = "0" * 40
BLOB_MODES = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE, FileMode.LINK)


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _status(delta: pygit2.DiffDelta) -> str:
    return {
        DeltaStatus.ADDED: "added",
        DeltaStatus.DELETED: "deleted",
        DeltaStatus.RENAMED: "renamed",
        DeltaStatus.TYPECHANGE: "typechange",
    }.get(delta.status, "modified")


def _size(repo: pygit2.Repository, oid: pygit2.Oid) -> int:
    """A blob's size from its header, without inflating it."""
    if str(oid) == ZERO:
        return 0
    try:
        return int(repo.odb.read_header(oid)[1])
    except KeyError:
        return 0


def _blob_bytes(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    if str(oid) == ZERO:
        return b""
    try:
        return blob_data(repo, oid)
    except (KeyError, HiveError):
        return b""


class _Budget:
    """What is left of a diff's caps while its files are produced, in order."""

    def __init__(self, caps: DiffCaps) -> None:
        self.caps = caps
        self.full_files = caps.full_files
        self.lines = caps.total_lines
        self.shown = caps.shown_bytes
        self.kept = caps.shown_bytes  # whole texts kept for highlighting
        self.read = caps.read_bytes
        self.note: str | None = None  # why later files are not shown, once one was not


def _hunks(patch: pygit2.Patch) -> tuple[Hunk, ...]:
    return tuple(
        Hunk(
            hunk.header,
            tuple(
                DiffLine(
                    line.origin,
                    None if line.old_lineno < 0 else line.old_lineno,
                    None if line.new_lineno < 0 else line.new_lineno,
                    line.raw_content.decode("utf-8", "replace"),
                )
                for line in hunk.lines
                if line.origin in "+- "
            ),
        )
        for hunk in patch.hunks
    )


def _file_diff(
    repo: pygit2.Repository, delta: pygit2.DiffDelta, patch_of: Patcher, budget: _Budget
) -> FileDiff:
    caps = budget.caps
    old_path = None if delta.status == DeltaStatus.ADDED else _path(delta.old_file)
    new_path = None if delta.status == DeltaStatus.DELETED else _path(delta.new_file)
    status = _status(delta)

    def summary(
        text: str, counts: tuple[int, int] | None, binary: bool = False, collapsed: bool = False
    ) -> FileDiff:
        added, deleted = counts or (0, 0)
        return FileDiff(
            old_path,
            new_path,
            status,
            added,
            deleted,
            binary=binary,
            summary_only=text,
            collapsed=collapsed,
            counted=counts is not None,
        )

    sizes = (_size(repo, delta.old_file.id), _size(repo, delta.new_file.id))
    if sum(sizes) > budget.read:
        budget.read = 0  # in path order: once one file is not read, no later one is
        return summary("not read: the diff's byte budget is spent", None, collapsed=True)
    budget.read -= sum(sizes)
    if max(sizes) > caps.file_bytes:
        text = f"file over {caps.file_bytes} bytes, not shown"
        return summary(text, _counts(patch_of()))
    old_data = _blob_bytes(repo, delta.old_file.id)
    new_data = _blob_bytes(repo, delta.new_file.id)
    if _is_binary(old_data) or _is_binary(new_data):
        text = f"binary file, {len(old_data)} -> {len(new_data)} bytes"
        return summary(text, (0, 0), binary=True)
    patch = patch_of()
    counts = _counts(patch)
    additions, deletions = counts
    changed = additions + deletions
    if budget.full_files <= 0:
        if not caps.full_files:  # a listing with counts (a stat): no lines were asked for
            return FileDiff(old_path, new_path, status, additions, deletions)
        return summary("not shown: past the files shown in full", counts, collapsed=True)
    if changed > caps.file_lines:
        return summary(f"{changed} changed lines, not shown", counts)
    if changed > budget.lines:
        budget.lines = 0
        budget.note = f"diff truncated: over {caps.total_lines} changed lines in all"
        return summary(TRUNCATED_NOTE, counts, collapsed=True)
    hunks = _hunks(patch) if patch is not None else ()
    shown = sum(len(line.text) for hunk in hunks for line in hunk.lines)
    if shown > budget.shown:
        budget.shown = 0
        budget.note = f"diff truncated: over {caps.shown_bytes} bytes of lines shown"
        return summary(TRUNCATED_NOTE, counts, collapsed=True)
    budget.full_files -= 1
    budget.lines -= changed
    budget.shown -= shown
    keep = len(old_data) + len(new_data) <= budget.kept
    budget.kept -= len(old_data) + len(new_data) if keep else 0
    return FileDiff(
        old_path,
        new_path,
        status,
        additions,
        deletions,
        hunks=hunks,
        old_text=old_data.decode("utf-8", "replace") if keep else None,
        new_text=new_data.decode("utf-8", "replace") if keep else None,
    )


class Patcher:
    """The patch of one delta, made (libgit2 diffs both blobs) only when asked for; None when
    libgit2 has no text change to show (an exact rename)."""

    def __init__(self, make: pygit2.Diff | None, index: int, patch: pygit2.Patch | None) -> None:
        self.make, self.index, self.patch = make, index, patch

    def __call__(self) -> pygit2.Patch | None:
        if self.patch is None and self.make is not None:
            self.patch = self.make[self.index]
        return self.patch


def _counts(patch: pygit2.Patch | None) -> tuple[int, int]:
    if patch is None:
        return 0, 0
    _, additions, deletions = patch.line_stats
    return additions, deletions


def _path(file: pygit2.DiffFile) -> str:
    return file.raw_path.decode("utf-8", "replace")


@translated("diff two commits")
def diff_commits(
    repo_path: Path, base: str | None, head: str, caps: DiffCaps = DEFAULT_CAPS
) -> ProposalDiff:
    """Diff two pinned commits (base None: the empty tree) as text, whatever .gitattributes
    says, produced only as far as `caps` allow."""
    repo = open_applied(repo_path)
    head_tree = peel_tree(repo, head)
    if base is None:
        diff = head_tree.diff_to_tree(flags=FLAGS, swap=True)
    else:
        diff = peel_tree(repo, base).diff_to_tree(head_tree, flags=FLAGS)
    diff.find_similar(DiffFind.FIND_RENAMES)
    budget = _Budget(caps)
    files = [
        _file_diff(repo, delta, Patcher(diff, index, None), budget)
        for index, delta in enumerate(itertools.islice(diff.deltas, caps.listed))
    ]
    unlisted = max(0, len(diff) - len(files))
    return ProposalDiff(
        base=base,
        head=head,
        files=tuple(files),
        truncated=budget.note,
        unlisted=unlisted,
        caps=caps,
    )


def _blob_at(repo: pygit2.Repository, tree: pygit2.Tree | None, path: str) -> pygit2.Blob | None:
    if tree is None:
        return None
    try:
        entry = tree[path]
    except (KeyError, ValueError, TypeError):
        return None
    if entry.filemode not in BLOB_MODES:
        return None
    blob = repo[entry.id]
    return blob if isinstance(blob, pygit2.Blob) else None


@translated("diff a file of two commits")
def diff_paths(
    repo_path: Path, base: str | None, head: str, paths: Sequence[str], caps: DiffCaps
) -> ProposalDiff:
    """The diff of the files at `paths` alone (each looked up, not the whole tree diffed);
    NotFound when a path is a file in neither commit."""
    repo = open_applied(repo_path)
    head_tree = peel_tree(repo, head)
    base_tree = None if base is None else peel_tree(repo, base)
    budget = _Budget(caps)
    files = []
    for path in paths:
        old, new = _blob_at(repo, base_tree, path), _blob_at(repo, head_tree, path)
        if old is None and new is None:
            raise NotFound(f"{path!r} is not a file in either commit: `hivectl show ID --stat`")
        if old is not None and new is not None and old.id == new.id:
            continue  # the same file on both sides: nothing changed
        patch = pygit2.Patch.create_from(old, new, path, path, flag=FLAGS)
        files.append(_file_diff(repo, patch.delta, Patcher(None, 0, patch), budget))
    return ProposalDiff(base=base, head=head, files=tuple(files), truncated=budget.note, caps=caps)
