"""hivectl hooks install: the controller's notify hooks written again into proposed/ repos."""

from __future__ import annotations

import sys

import click

from gitops_hive.cli.common import client_of, echo, print_json

EXIT_NOT_ALL = 1  # some agent's hooks could not be written


@click.group(invoke_without_command=True)
@click.pass_context
def hooks(ctx: click.Context) -> None:
    """The controller's git hooks in agents' proposed/ repos."""
    if ctx.invoked_subcommand is None:  # `hivectl hooks` alone: what it can do
        click.echo(ctx.get_help())


@hooks.command("install")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def install(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """(Re)install the commit hooks into NAMES' proposed/.git (no name: every agent's),
    through the controller; say per agent what was written, or why not."""
    report = client_of(ctx).install_hooks(list(names))
    if as_json:
        print_json(report)
    for entry in [] if as_json else report:
        if entry["error"]:
            echo(f"{entry['agent']}: not installed: {entry['error']}")
            continue
        echo(f"{entry['agent']}: installed")
        for file in entry["files"]:
            detail = f" ({file['detail']})" if file["detail"] else ""
            echo(f"  {file['name']}: {file['result']}{detail}")
    if not report and not as_json:
        echo("no agents yet: `hivectl draft NAME` makes one", err=True)
    if any(entry["error"] for entry in report):
        sys.exit(EXIT_NOT_ALL)
