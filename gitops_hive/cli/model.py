"""hivectl model: show, override or clear an agent's model (a git note, no rebuild)."""

from __future__ import annotations

from typing import Any

import click

from gitops_hive.cli.common import client_of, echo, print_json, short, when
from gitops_hive.errors import HiveError
from gitops_hive.names import validate_name

SOURCES = {"note": "override note", "agent.toml": "agent.toml", "default": "hive default"}


def echo_model_status(status: dict[str, Any]) -> None:
    """The effective model, where it comes from, active or queued, and the last switch."""
    source = SOURCES.get(status["model_source"], status["model_source"])
    if status.get("note_on"):
        source += f" on {short(status['note_on'])}"
    echo(f"{status['agent']}: {status['model']} ({source})")
    if status["model_state"] == "active":
        echo("  active: the last turn ran with it")
    else:
        ran = status.get("last_turn_model")
        then = f" (the last turn ran {ran})" if ran else " (no turn yet)"
        echo(f"  queued: the next turn runs with it{then}")
    switched = status.get("last_switched")
    if switched:
        reason = f": {switched['reason']}" if switched.get("reason") else ""
        echo(f"  last switched {when(switched['at'])} by {switched['by']}{reason}")
    echo(f"  allowed: {', '.join(status['allowed'])}")


@click.command()
@click.argument("name")
@click.argument("model", required=False)
@click.option("--reason", default=None, help="Why; kept in the note and its history.")
@click.option("--clear", is_flag=True, help="Drop the override: agent.toml or the default again.")
@click.option("--history", "show_history", is_flag=True, help="List every switch, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def model(
    ctx: click.Context,
    name: str,
    model: str | None,
    reason: str | None,
    clear: bool,
    show_history: bool,
    as_json: bool,
) -> None:
    """Show NAME's model, or switch it to MODEL (or --clear) from its next turn on."""
    validate_name(name)
    if model and clear:
        raise HiveError("give MODEL or --clear, not both")
    if reason is not None and not (model or clear):
        raise HiveError("--reason goes with MODEL or --clear")
    client = client_of(ctx)
    if clear:
        status = client.clear_model(name, reason)
    elif model:
        status = client.set_model(name, model, reason)
    else:
        status = client.model(name)
    if as_json:
        print_json(status)
        return
    echo_model_status(status)
    if show_history:
        for change in status["history"]:
            echo(f"  {when(change['at'])}  {change['message']}")


MODEL_COMMANDS = (model,)
