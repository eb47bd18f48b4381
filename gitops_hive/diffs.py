"""The diff of a proposal as plain records, and its text rendering for the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitops_hive.text import escape_line


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk: origin is '+', '-' or ' '."""

    origin: str
    old_lineno: int | None
    new_lineno: int | None
    text: str


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileDiff:
    """One changed file; `summary_only` says why its lines are not shown, if they are not."""

    old_path: str | None
    new_path: str | None
    status: str  # added | modified | deleted | renamed | typechange
    additions: int
    deletions: int
    binary: bool = False
    summary_only: str | None = None
    hunks: tuple[Hunk, ...] = ()
    old_text: str | None = None
    new_text: str | None = None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    def to_json(self, with_hunks: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "old_path": self.old_path,
            "status": self.status,
            "additions": self.additions,
            "deletions": self.deletions,
            "binary": self.binary,
            "summary_only": self.summary_only,
        }
        if with_hunks:
            data["hunks"] = [
                {
                    "header": h.header,
                    "lines": [[ln.origin, ln.old_lineno, ln.new_lineno, ln.text] for ln in h.lines],
                }
                for h in self.hunks
            ]
        return data


@dataclass(frozen=True)
class ProposalDiff:
    """Every file of a diff, in path order, with the note when it was cut short."""

    base: str | None
    head: str
    files: tuple[FileDiff, ...] = ()
    truncated: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


def render_stat(diff: ProposalDiff) -> str:
    """`git diff --stat`-like summary."""
    if not diff.files:
        return "no changes\n"
    width = max(len(escape_line(f.path)) for f in diff.files)
    rows = []
    for f in diff.files:
        label = (
            f"{escape_line(f.old_path or '')} => {escape_line(f.new_path or '')}"
            if f.status == "renamed"
            else escape_line(f.path)
        )
        counts = "binary" if f.binary else f"+{f.additions} -{f.deletions}"
        rows.append(f" {label:<{width}}  {f.status:<9} {counts}")
    rows.append(
        f" {len(diff.files)} file(s) changed, {diff.additions} insertion(s), "
        f"{diff.deletions} deletion(s)"
    )
    return "\n".join(rows) + "\n"


def render_patch(diff: ProposalDiff) -> str:
    """A unified diff for the terminal; summarised files say why instead of their lines."""
    out: list[str] = []
    for f in diff.files:
        # A file name is one line: a newline in it must not start a forged line of the patch.
        old = f"a/{escape_line(f.old_path)}" if f.old_path else "/dev/null"
        new = f"b/{escape_line(f.new_path)}" if f.new_path else "/dev/null"
        out.append(f"diff {old} {new} ({f.status})")
        if f.summary_only:
            out.append(f"  [{f.summary_only}]")
            continue
        out.append(f"--- {old}")
        out.append(f"+++ {new}")
        for hunk in f.hunks:
            out.append(hunk.header.rstrip("\n"))
            out.extend(f"{ln.origin}{ln.text.rstrip(chr(10))}" for ln in hunk.lines)
    if diff.truncated:
        out.append(f"[{diff.truncated}]")
    return "\n".join(out) + ("\n" if out else "")
