"""What every hivectl command shares: the root, the control client, tables, JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from gitops_hive.client import ControlClient
from gitops_hive.layout import HiveLayout
from gitops_hive.text import escape_unsafe


def printable(text: str) -> str:
    """`text` with each control character and bidi mark shown as an escape (`\\x1b`)."""
    return escape_unsafe(text)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """click.echo, but what reaches the terminal is `printable`."""
    click.echo(printable(text), err=err, nl=nl)


def layout_of(ctx: click.Context) -> HiveLayout:
    """The layout of the root hivectl was pointed at."""
    root: Path = ctx.obj["root"]
    return HiveLayout(root)


def client_of(ctx: click.Context) -> ControlClient:
    """A client of that root's control socket."""
    return ControlClient.of(layout_of(ctx))


def print_json(data: Any) -> None:
    """Print indented JSON (json.dumps escapes control characters itself)."""
    click.echo(json.dumps(data, indent=2))


def short(sha: str | None) -> str:
    """The first 12 hex digits of a sha, or a dash."""
    return sha[:12] if sha else "-"


def when(ts: float | None) -> str:
    """A local timestamp, or a dash."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def table(rows: list[list[str]], header: list[str]) -> None:
    """Print rows in aligned columns under a header."""
    rows = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
