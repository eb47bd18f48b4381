"""Diffs of two pinned commits as records: forced text, the controller's own binary test, and
size limits per file and in all."""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, DiffOption

from gitops_hive.diffs import DiffLine, FileDiff, Hunk, ProposalDiff
from gitops_hive.errors import HiveError
from gitops_hive.repos.failures import translated
from gitops_hive.repos.objects import blob_data, peel_tree
from gitops_hive.repos.opening import open_applied

MAX_DIFF_FILE_BYTES = 256 * 1024
MAX_DIFF_FILE_LINES = 3000
MAX_DIFF_TOTAL_LINES = 20000
TRUNCATED_NOTE = "diff size limit reached, not shown"


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _status(delta: pygit2.DiffDelta) -> str:
    return {
        DeltaStatus.ADDED: "added",
        DeltaStatus.DELETED: "deleted",
        DeltaStatus.RENAMED: "renamed",
        DeltaStatus.TYPECHANGE: "typechange",
    }.get(delta.status, "modified")


def _blob_bytes(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    if oid.raw == b"\0" * 20:
        return b""
    try:
        return blob_data(repo, oid)
    except (KeyError, HiveError):
        return b""


def _file_diff(repo: pygit2.Repository, patch: pygit2.Patch, budget: int) -> FileDiff:
    delta = patch.delta
    old_path = (
        None
        if delta.status == DeltaStatus.ADDED
        else delta.old_file.raw_path.decode("utf-8", "replace")
    )
    new_path = (
        None
        if delta.status == DeltaStatus.DELETED
        else delta.new_file.raw_path.decode("utf-8", "replace")
    )
    old_data = _blob_bytes(repo, delta.old_file.id)
    new_data = _blob_bytes(repo, delta.new_file.id)
    _, additions, deletions = patch.line_stats
    status = _status(delta)

    def summary(text: str, binary: bool = False) -> FileDiff:
        counts = (0, 0) if binary else (additions, deletions)
        return FileDiff(old_path, new_path, status, *counts, binary=binary, summary_only=text)

    if _is_binary(old_data) or _is_binary(new_data):
        return summary(f"binary file, {len(old_data)} -> {len(new_data)} bytes", binary=True)
    if max(len(old_data), len(new_data)) > MAX_DIFF_FILE_BYTES:
        return summary(f"file over {MAX_DIFF_FILE_BYTES} bytes, not shown")
    if additions + deletions > MAX_DIFF_FILE_LINES:
        return summary(f"{additions + deletions} changed lines, not shown")
    if additions + deletions > budget:
        return summary(TRUNCATED_NOTE)
    hunks = tuple(
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
    return FileDiff(
        old_path,
        new_path,
        status,
        additions,
        deletions,
        hunks=hunks,
        old_text=old_data.decode("utf-8", "replace"),
        new_text=new_data.decode("utf-8", "replace"),
    )


@translated("diff two commits")
def diff_commits(repo_path: Path, base: str | None, head: str) -> ProposalDiff:
    """Diff two pinned commits (base None: the empty tree) as text, whatever .gitattributes says."""
    repo = open_applied(repo_path)
    head_tree = peel_tree(repo, head)
    flags = DiffOption.FORCE_TEXT | DiffOption.INCLUDE_TYPECHANGE
    if base is None:
        diff = head_tree.diff_to_tree(flags=flags, swap=True)
    else:
        diff = peel_tree(repo, base).diff_to_tree(head_tree, flags=flags)
    diff.find_similar(DiffFind.FIND_RENAMES)
    files: list[FileDiff] = []
    budget = MAX_DIFF_TOTAL_LINES
    truncated = None
    for patch in diff:
        if patch is None:
            continue
        file_diff = _file_diff(repo, patch, budget)
        if file_diff.summary_only == TRUNCATED_NOTE:
            truncated = f"diff truncated: over {MAX_DIFF_TOTAL_LINES} changed lines in all"
        elif not file_diff.summary_only:
            budget -= file_diff.additions + file_diff.deletions
        files.append(file_diff)
    return ProposalDiff(base=base, head=head, files=tuple(files), truncated=truncated)
