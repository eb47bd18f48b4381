"""What agent output may not do on the operator's terminal, and how fast it may come; pure.

An OSC 52 sequence would write the operator's clipboard; a bracketed-paste marker in the
output has no business there and could be echoed back as input. Both are cut, even when a
sequence is split across reads. The rate cap is a token bucket: the session stops reading
the pty while it is over, so a runaway command blocks on its own output instead of flooding
the controller or the browser.
"""

from __future__ import annotations

import re

ESC = b"\x1b"
# OSC 52 (clipboard) and the bracketed-paste markers, each introduced by ESC or by its 8-bit
# C1 code (UTF-8 encoded); a terminal reads OSC 052 (any zeros) as 52.
_OSC = rb"(?:\x1b\]|\xc2\x9d)"
_CSI = rb"(?:\x1b\[|\xc2\x9b)"
_FIND = re.compile(_OSC + rb"0*52;|" + _CSI + rb"20[01]~")
# The end of a read that may be the start of one of those: held for the next read.
_PARTIAL = re.compile(rb"(?:\x1b|\xc2|" + _OSC + rb"0*(?:52?)?|" + _CSI + rb"(?:20?[01]?)?)\Z")
_ZEROS = re.compile(rb"0+")
MAX_HELD = 64  # a longer held run of zeros is kept as one zero: the number it makes is the same
_OSC_END = re.compile(rb"\x07|\x1b\\|\xc2\x9c")
MAX_SWALLOW = 1 << 20  # an unterminated OSC 52 longer than this ends anyway


def _held_tail(data: bytes) -> tuple[int, bytes]:
    """Where the end of `data` that could start a pattern begins, and the bytes to hold."""
    found = _PARTIAL.search(data)
    if found is None:
        return len(data), b""
    held = found.group()
    if len(held) > MAX_HELD:
        held = _ZEROS.sub(b"0", held, count=1)
    return found.start(), held


class OutputFilter:
    """Cuts OSC 52 and bracketed-paste markers out of a byte stream, across chunk edges."""

    def __init__(self) -> None:
        self._carry = b""
        self._swallowing = 0  # > 0: inside an OSC 52, this many bytes dropped so far

    def feed(self, data: bytes) -> bytes:
        """The part of `data` that may reach the terminal now."""
        buf = self._carry + data
        self._carry = b""
        out = bytearray()
        at = 0
        while at < len(buf):
            if self._swallowing:
                end = _OSC_END.search(buf, at)
                if end is None:
                    keep = 1 if buf.endswith((ESC, b"\xc2")) else 0
                    self._swallowing += len(buf) - at
                    if self._swallowing > MAX_SWALLOW:
                        self._swallowing = 0
                    else:
                        self._carry = buf[len(buf) - keep :] if keep else b""
                    return bytes(out)
                at, self._swallowing = end.end(), 0
                continue
            found = _FIND.search(buf, at)
            if found is None:
                rest = buf[at:]
                start, self._carry = _held_tail(rest)
                out += rest[:start]
                return bytes(out)
            out += buf[at : found.start()]
            at = found.end()
            if found.group().endswith(b";"):  # OSC 52: its payload goes too
                self._swallowing = 1
        return bytes(out)


class RateCap:
    """A token bucket over bytes: `take` says how long to wait before reading on."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._tokens = self.burst
        self._at: float | None = None

    def take(self, size: int, now: float) -> float:
        """Spend `size` bytes at `now`; the seconds until the bucket is back to zero."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= size
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
