"""A proposal's diff as rows for the templates: highlighted, numbered, hidden characters shown."""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import cast

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from gitops_hive.diffs import DiffLine, FileDiff, ProposalDiff
from gitops_hive.text import BIDI

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
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


_RENDERED: OrderedDict[tuple[str | None, str], list[FileView]] = OrderedDict()
RENDER_CACHE_SIZE = 8


def diff_views(diff: ProposalDiff) -> list[FileView]:
    """The highlighted rows of every file; kept for the last few (base, head) pairs.

    Pinned commits never change, so a diff between two shas renders the same every time.
    """
    key = (diff.base, diff.head)
    views = _RENDERED.get(key)
    if views is None:
        views = [file_view(f, i) for i, f in enumerate(diff.files)]
        _RENDERED[key] = views
        while len(_RENDERED) > RENDER_CACHE_SIZE:
            _RENDERED.popitem(last=False)
    _RENDERED.move_to_end(key)
    return views


def pygments_css() -> str:
    """The highlight stylesheet (classes only: the CSP allows no inline style)."""
    css: str = HtmlFormatter(classprefix="").get_style_defs(".code")  # type: ignore[no-untyped-call]
    return css
