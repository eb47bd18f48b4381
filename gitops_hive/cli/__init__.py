"""hivectl: parse, call the controller, print. Every HiveError is one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gitops_hive.cli.agents import AGENT_COMMANDS
from gitops_hive.cli.approvals import APPROVAL_COMMANDS
from gitops_hive.cli.common import echo
from gitops_hive.cli.hive_root import HIVE_ROOT_COMMANDS
from gitops_hive.cli.hooks import hooks
from gitops_hive.cli.logs import logs
from gitops_hive.cli.messages import MESSAGE_COMMANDS
from gitops_hive.cli.model import MODEL_COMMANDS
from gitops_hive.cli.shell import shell
from gitops_hive.cli.stats import stats
from gitops_hive.cli.unit import UNIT_COMMANDS
from gitops_hive.errors import HiveError
from gitops_hive.layout import default_root

EXIT_ERROR = 2


class HiveGroup(click.Group):
    """Every error is one `error: ...` line on stderr: HiveError and usage errors exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HiveError as exc:
            echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_ERROR)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "hivectl"
            echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as exc:
            echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            echo("aborted", err=True)
            sys.exit(1)


@click.group(cls=HiveGroup)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HIVE_ROOT",
    default=None,
    help="Hive root (default: $HIVE_ROOT, else $XDG_STATE_HOME/gitops-hive).",
)
@click.version_option(package_name="gitops-hive")
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """gitops-hive: review and apply what your agents commit."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = (root or default_root()).absolute()


for _command in (
    *HIVE_ROOT_COMMANDS,
    *AGENT_COMMANDS,
    *APPROVAL_COMMANDS,
    *MESSAGE_COMMANDS,
    *MODEL_COMMANDS,
    *UNIT_COMMANDS,
    shell,
    stats,
    logs,
    hooks,
):
    main.add_command(_command)
