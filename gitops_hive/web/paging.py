"""A page of a long list on a dashboard page: its rows, and links to the pages around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gitops_hive.errors import HiveError
from gitops_hive.numbers import whole_number

PAGE_SIZE = 50  # rows a dashboard table shows at once


@dataclass(frozen=True)
class Pager:
    """`rows` from `first` (counted from 0) of `total`, and the URLs of the pages around."""

    rows: list[dict[str, Any]]
    first: int
    total: int
    previous: str | None
    next: str | None

    @classmethod
    def of(cls, request: web.Request, key: str, everything: list[dict[str, Any]]) -> Pager:
        """The page of `everything` that ?`key`=N starts, the request's other parameters kept."""
        raw = request.query.get(key, "0") or "0"
        start = whole_number(raw)
        if start is None:
            raise HiveError(f"{key}={raw[:40]!r} is not a whole number of rows")
        first = min(start, max(0, len(everything) - 1))

        def link(start: int) -> str:
            query = {k: v for k, v in request.query.items() if k not in (key, "fragment")}
            return "/?" + urlencode({**query, key: str(start)})

        return cls(
            everything[first : first + PAGE_SIZE],
            first,
            len(everything),
            link(max(0, first - PAGE_SIZE)) if first > 0 else None,
            link(first + PAGE_SIZE) if first + PAGE_SIZE < len(everything) else None,
        )

    @property
    def last(self) -> int:
        """The 1-based number of the page's last row."""
        return self.first + len(self.rows)
