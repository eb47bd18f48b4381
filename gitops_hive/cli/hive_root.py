"""hivectl init, serve and token: the commands that act on the hive root itself, not the API."""

from __future__ import annotations

import asyncio

import click

from gitops_hive.cli.common import echo, layout_of
from gitops_hive.client import ControlClient
from gitops_hive.errors import HiveError
from gitops_hive.layout import HiveLayout


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create hive.toml, hive.db, agents/, run/ and the operator token."""
    from gitops_hive.init_root import init_root

    layout = layout_of(ctx)
    root = layout.root
    made = init_root(root)
    if made:
        echo(f"initialised {root}: {', '.join(made)}")
    else:
        echo(f"{root} is already a hive; nothing changed")
    if _serving(layout):
        echo(f"a controller already serves it: `hivectl --root {root} token` prints the login URL")
    else:
        echo(f"next: hivectl --root {root} serve")


def _serving(layout: HiveLayout) -> bool:
    """Whether a controller answers on the hive's control socket."""
    try:
        ControlClient(layout.control_socket, layout.root, timeout=5.0).health()
    except (HiveError, OSError):
        return False
    return True


@click.command()
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Where to serve the dashboard (default: web.listen in hive.toml, "
    "127.0.0.1:8470; port 0 picks a free one).",
)
@click.option(
    "--runtime",
    type=click.Choice(["process", "nspawn"]),
    default=None,
    help="Run agents as supervised processes or in nspawn containers (default: runtime.kind "
    "in hive.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.pass_context
def serve(ctx: click.Context, listen: str | None, runtime: str | None, verbose: bool) -> None:
    """Run the controller in the foreground: watcher, approvals, reconcile, dashboard."""
    from gitops_hive.controller import configure_logging, parse_listen, run_controller

    if listen is not None:
        parse_listen(listen)
    configure_logging(verbose)
    asyncio.run(run_controller(layout_of(ctx).root, listen=listen, runtime=runtime))


@click.command()
@click.option(
    "--rotate",
    is_flag=True,
    help="Make a new token first: the old one and every dashboard session end at once.",
)
@click.pass_context
def token(ctx: click.Context, rotate: bool) -> None:
    """Print the dashboard's login URL (the token rides after '#', never sent to the server)."""
    from urllib.parse import quote

    from gitops_hive.init_root import write_token
    from gitops_hive.web.security import read_token

    layout = layout_of(ctx)
    if rotate:
        if not layout.token.parent.is_dir():
            raise HiveError(f"{layout.root} is not a hive: run `hivectl init` first")
        write_token(layout.token)
        echo("token rotated: the old token and every dashboard session stop working now")
    secret = read_token(layout.token)
    try:
        url = layout.dashboard_url.read_text().strip()
    except FileNotFoundError:
        from gitops_hive.config import load_config

        listen = load_config(layout.config)["web.listen"]
        url = f"http://{listen}/"
    echo(f"{url}login#token={quote(secret)}")


HIVE_ROOT_COMMANDS = (init, serve, token)
