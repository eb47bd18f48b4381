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
class DiffCaps:
    """How much of a diff to produce, in path order. A file is shown with its lines while
    `full_files`, `total_lines` and `shown_bytes` last and it is within `file_lines` and
    `file_bytes`; after that, files are listed collapsed (path, status and, while
    `read_bytes` of blobs last, their counts). Past `listed` files, they are only counted."""

    full_files: int
    file_lines: int
    file_bytes: int
    total_lines: int
    shown_bytes: int
    read_bytes: int
    listed: int


@dataclass(frozen=True)
class FileDiff:
    """One changed file; `summary_only` says why its lines are not shown, if they are not;
    `collapsed`: left out because the diff's caps were spent, not for what the file is;
    `counted`: `additions` and `deletions` were computed."""

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
    collapsed: bool = False
    counted: bool = True

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
            "collapsed": self.collapsed,
            "counted": self.counted,
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
    """The files of a diff, in path order, with the note when it was cut short; `unlisted`
    changed files come after them, past the caps, only counted."""

    base: str | None
    head: str
    files: tuple[FileDiff, ...] = ()
    truncated: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    unlisted: int = 0
    caps: DiffCaps | None = None

    @property
    def changed_files(self) -> int:
        return len(self.files) + self.unlisted

    @property
    def fully_counted(self) -> bool:
        """Whether `additions` and `deletions` cover every changed file."""
        return not self.unlisted and all(f.counted for f in self.files)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


def unlisted_note(diff: ProposalDiff, approval_id: int | None = None) -> str | None:
    """The line that says how many changed files a listing leaves out, if any."""
    if not diff.unlisted:
        return None
    return (
        f"{diff.unlisted} more changed file(s) not listed (the listing stops after "
        f"{len(diff.files)}); show one with `hivectl show {approval_id or 'ID'} -- PATH`"
    )


def render_stat(diff: ProposalDiff, approval_id: int | None = None) -> str:
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
        rows.append(f" {label:<{width}}  {f.status:<9} {counts if f.counted else 'not counted'}")
    note = unlisted_note(diff, approval_id)
    if note:
        rows.append(f" [{note}]")
    counted = "" if diff.fully_counted else " in the files counted"
    rows.append(
        f" {diff.changed_files} file(s) changed, {diff.additions} insertion(s), "
        f"{diff.deletions} deletion(s){counted}"
    )
    return "\n".join(rows) + "\n"


def render_patch(diff: ProposalDiff, approval_id: int | None = None) -> str:
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
    note = unlisted_note(diff, approval_id)
    if note:
        out.append(f"[{note}]")
    return "\n".join(out) + ("\n" if out else "")
