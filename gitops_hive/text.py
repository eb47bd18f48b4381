"""Characters that must never reach a reader as they are: controls and bidirectional marks."""

from __future__ import annotations

import re

# The bidirectional embeddings, overrides, isolates and marks (Trojan Source).
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_BIDI_CLASS = "".join(sorted(BIDI))
# C0 and C1 controls and DEL, with the bidi marks: nothing a one-line field may hold.
UNSHOWABLE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CLASS}]")
# The same but tab and newline: what may not reach a terminal from text with lines.
TERMINAL_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CLASS}]")
# Characters that take no room: a name or a value may hide one between its visible letters.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
PAGE_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CLASS}{''.join(sorted(ZERO_WIDTH))}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_unsafe(text: str) -> str:
    """`text` for a terminal: controls (not tab or newline) and bidi marks as escapes."""
    return TERMINAL_UNSAFE.sub(_escape, text)


def escape_line(text: str) -> str:
    """`text` for one line of output (a file name): every control, newline included, escaped."""
    return UNSHOWABLE.sub(_escape, text)


def escape_hidden(text: str) -> str:
    """`text` for a page: controls (not tab or newline), bidi marks and zero-width characters
    as escapes, so what a reader sees is every character there is, in its order."""
    return PAGE_UNSAFE.sub(_escape, text)
