"""The one place a whole number from outside (an address, a query, an option) is read."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # sqlite's largest INTEGER: past it a query fails instead of finding nothing


def whole_number(raw: str, most: int = MAX_ID) -> int | None:
    """`raw` ("12", "#12") as a whole number up to `most`; None when it is none ("²" is a
    digit to str.isdigit but not to int; 10**30 overflows sqlite)."""
    text = raw.removeprefix("#")
    if not (text.isascii() and text.isdecimal()) or len(text) > len(str(most)):
        return None
    number = int(text)
    return number if number <= most else None
