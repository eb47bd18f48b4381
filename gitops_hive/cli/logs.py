"""hivectl logs: an agent's run/agent.log, readable or raw, once or followed, over the socket."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

import click

from gitops_hive.cli.common import client_of, echo, print_json
from gitops_hive.readable_log import readable

FOLLOW_EVERY = 1.0  # seconds between two looks at a followed log, as `tail -f` does


def _with_readable(answer: dict[str, Any]) -> dict[str, Any]:
    lines = [asdict(line) for line in readable(answer["lines"])]
    return {**answer, "readable": lines}


def _print_lines(answer: dict[str, Any], raw: bool, following: bool = False) -> None:
    """The lines of one answer: as written, or as the agent page reads them (escaped); while
    following, a note on stderr when the log started anew or lines were passed over."""
    if following and answer["restarted"]:
        echo("-- the log was started anew --", err=True)
    if following and answer["skipped"]:
        echo(
            f"-- {answer['skipped']} bytes passed over: more than one read came at once --",
            err=True,
        )
    for line in answer["lines"] if raw else [line.text for line in readable(answer["lines"])]:
        echo(line)


def _follow(ctx: click.Context, name: str, offset: int, raw: bool, as_json: bool) -> None:
    client = client_of(ctx)
    while True:
        time.sleep(FOLLOW_EVERY)
        answer = client.agent_log(name, 1, since=offset)
        offset = answer["offset"]
        if not answer["lines"] and not answer["restarted"]:
            continue
        if as_json:
            click.echo(json.dumps(_with_readable(answer)), nl=True)
        else:
            _print_lines(answer, raw, following=True)


@click.command()
@click.argument("name")
@click.option(
    "-n",
    "--lines",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many of the last lines (at most 10000).",
)
@click.option("--raw", is_flag=True, help="The lines as the agent wrote them (controls escaped).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON document: the lines, their readable form, the offset.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.pass_context
def logs(ctx: click.Context, name: str, lines: int, raw: bool, as_json: bool, follow: bool) -> None:
    """NAME's log (agents/NAME/run/agent.log): the readable lines the agent page shows."""
    answer = client_of(ctx).agent_log(name, lines)
    if as_json:
        print_json(_with_readable(answer))
    else:
        if not answer["exists"]:
            echo(
                f"{name} has no log yet: it has not run (a draft runs once it is deployed)",
                err=True,
            )
        _print_lines(answer, raw)
    if follow:
        try:
            _follow(ctx, name, answer["offset"], raw, as_json)
        except KeyboardInterrupt:  # Ctrl-C is how a follow ends
            return
