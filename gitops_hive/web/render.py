"""A proposal's diff as rows for the templates: highlighted, numbered, hidden characters shown,
and no more of it than the page holds."""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass, field, replace
from typing import cast

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from gitops_hive.diffs import DiffLine, FileDiff, ProposalDiff
from gitops_hive.text import BIDI, ZERO_WIDTH

HIDDEN = BIDI | ZERO_WIDTH
FORMATTER = HtmlFormatter(nowrap=True, classprefix="")
MAX_HIGHLIGHT_CHARS = 512 * 1024


@dataclass(frozen=True)
class Cell:
    """One side of a rendered line: number, kind (add, del, ctx) and safe HTML."""

    number: int | None
    kind: str
    html: Markup


@dataclass(frozen=True)
class Row:
    """A unified row (old, new) or a hunk header (header set)."""

    kind: str
    old: int | None = None
    new: int | None = None
    html: Markup = field(default_factory=Markup)
    header: str | None = None


@dataclass
class FileView:
    diff: FileDiff
    anchor: str
    unified: list[Row] = field(default_factory=list)
    split: list[tuple[Cell | None, Cell | None] | str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _lexer(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return cast(Lexer, TextLexer(stripnl=False, ensurenl=False))


def _mark_hidden(html: str) -> Markup:
    """Make bidi and zero-width characters visible as labelled badges."""
    if not any(ch in HIDDEN for ch in html):
        return Markup(html)
    out = []
    for ch in html:
        if ch in HIDDEN:
            name = unicodedata.name(ch, "")
            out.append(f'<span class="hidden-char" title="{escape(name)}">U+{ord(ch):04X}</span>')
        else:
            out.append(ch)
    return Markup("".join(out))


def _highlighted_lines(text: str | None, lexer: Lexer) -> list[str]:
    if not text or len(text) > MAX_HIGHLIGHT_CHARS:
        return []
    rendered: str = highlight(text, lexer, FORMATTER)
    return rendered.split("\n")


def _line_html(line: DiffLine, old: list[str], new: list[str], lexer: Lexer) -> Markup:
    source, number = (old, line.old_lineno) if line.origin == "-" else (new, line.new_lineno)
    if number is not None and 0 < number <= len(source):
        return _mark_hidden(source[number - 1])
    single = highlight(line.text.rstrip("\n"), lexer, FORMATTER).rstrip("\n")
    return _mark_hidden(single)


def _warnings(file: FileDiff) -> list[str]:
    found: list[str] = []
    for hunk in file.hunks:
        for line in hunk.lines:
            for ch in sorted({c for c in line.text if c in HIDDEN}):
                kind = "bidirectional control" if ch in BIDI else "zero-width"
                number = line.new_lineno or line.old_lineno
                found.append(
                    f"{file.path}:{number}: {kind} character U+{ord(ch):04X} "
                    f"{unicodedata.name(ch, '')} (Trojan Source): check what the line really does"
                )
    return found


KIND = {"+": "add", "-": "del", " ": "ctx"}


def _pairs(dels: list[Cell], adds: list[Cell]) -> list[tuple[Cell | None, Cell | None]]:
    """Side by side: a run of deletions beside the run of additions that follows it."""
    rows: list[tuple[Cell | None, Cell | None]] = [
        (dels[i] if i < len(dels) else None, adds[i] if i < len(adds) else None)
        for i in range(max(len(dels), len(adds)))
    ]
    dels.clear()
    adds.clear()
    return rows


def file_view(file: FileDiff, index: int) -> FileView:
    """Rows for both layouts of one file."""
    view = FileView(diff=file, anchor=f"file-{index}", warnings=_warnings(file))
    if file.summary_only:
        return view
    lexer = _lexer(file.path)
    old = _highlighted_lines(file.old_text, lexer)
    new = _highlighted_lines(file.new_text, lexer)
    for hunk in file.hunks:
        view.unified.append(Row("hunk", header=hunk.header.rstrip("\n")))
        view.split.append(hunk.header.rstrip("\n"))
        dels: list[Cell] = []
        adds: list[Cell] = []
        for line in hunk.lines:
            html = _line_html(line, old, new, lexer)
            kind = KIND[line.origin]
            view.unified.append(Row(kind, line.old_lineno, line.new_lineno, html))
            if line.origin == "-":
                dels.append(Cell(line.old_lineno, kind, html))
            elif line.origin == "+":
                adds.append(Cell(line.new_lineno, kind, html))
            else:
                view.split.extend(_pairs(dels, adds))
                view.split.append(
                    (Cell(line.old_lineno, kind, html), Cell(line.new_lineno, kind, html))
                )
        view.split.extend(_pairs(dels, adds))
    return view


ROW_BYTES = 100  # a table row's markup around its cells
LISTED_ROW_BYTES = 250  # a collapsed file's row around its path and reason
PAGE_FULL_NOTE = "not shown: the page is full (web.max_page_bytes)"


@dataclass(frozen=True)
class PageDiff:
    """What the approval page shows of a diff: files with their rows, then files listed by
    path, status and counts only, then how many more changed files it leaves out."""

    diff: ProposalDiff
    shown: tuple[FileView, ...]
    collapsed: tuple[FileDiff, ...]
    unlisted: int

    @property
    def warnings(self) -> list[str]:
        return [w for view in self.shown for w in view.warnings]


def _weight(view: FileView) -> int:
    """About how many bytes the larger of the file's two layouts takes on the page."""
    unified = sum(len(row.html) + len(row.header or "") + ROW_BYTES for row in view.unified)
    split = sum(
        ROW_BYTES
        + (len(row) if isinstance(row, str) else sum(len(c.html) for c in row if c is not None))
        for row in view.split
    )
    return max(unified, split) + ROW_BYTES + len(view.diff.summary_only or "")


def page_views(diff: ProposalDiff) -> PageDiff:
    """Rows for the files that fit the page's bytes (`diff.caps.shown_bytes`), in path order;
    after the first that does not, every file is listed collapsed while that fits, and the
    rest are only counted. CPU-bound: run it off the event loop."""
    budget = diff.caps.shown_bytes if diff.caps else sys.maxsize
    shown: list[FileView] = []
    collapsed: list[FileDiff] = []
    for index, file in enumerate(diff.files):
        if not file.collapsed and not collapsed:
            view = file_view(file, index)
            weight = _weight(view)
            if weight <= budget:
                budget -= weight
                shown.append(view)
                continue
            file = replace(
                file,
                summary_only=PAGE_FULL_NOTE,
                collapsed=True,
                hunks=(),
                old_text=None,
                new_text=None,
            )
        cost = LISTED_ROW_BYTES + 2 * len(file.path) + len(file.summary_only or "")
        if cost > budget:
            unlisted = len(diff.files) - index + diff.unlisted
            return PageDiff(diff, tuple(shown), tuple(collapsed), unlisted)
        budget -= cost
        collapsed.append(file)
    return PageDiff(diff, tuple(shown), tuple(collapsed), diff.unlisted)


def pygments_css() -> str:
    """The highlight stylesheet (classes only: the CSP allows no inline style)."""
    css: str = HtmlFormatter(classprefix="").get_style_defs(".code")  # type: ignore[no-untyped-call]
    return css
