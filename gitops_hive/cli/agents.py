"""hivectl draft, spawn, agents, history, stop, start: agents and their lifecycles."""

from __future__ import annotations

import click

from gitops_hive.cli.approvals import echo_approval
from gitops_hive.cli.common import client_of, echo, layout_of, print_json, short, table, when
from gitops_hive.names import validate_name


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the agent as JSON.")
@click.pass_context
def draft(ctx: click.Context, name: str, as_json: bool) -> None:
    """Create NAME's proposed/ repo from the template, with no container."""
    validate_name(name)
    agent = client_of(ctx).draft(name)
    if as_json:
        print_json(agent)
        return
    path = layout_of(ctx).agent(name).proposed
    echo(
        f"drafted {name} at {short(agent['proposed'])}: edit {path}, commit, then "
        f"`hivectl submit {name}`"
    )


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the approval as JSON.")
@click.pass_context
def spawn(ctx: click.Context, name: str, as_json: bool) -> None:
    """Draft NAME from the template and submit it for approval at once."""
    validate_name(name)
    approval = client_of(ctx).spawn(name)
    if as_json:
        print_json(approval)
    else:
        echo_approval(approval, "queued")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def agents(ctx: click.Context, as_json: bool) -> None:
    """List every agent with its status and commits."""
    found = client_of(ctx).agents()
    if as_json:
        print_json(found)
        return
    if not found:
        echo("no agents yet: `hivectl spawn NAME` creates one")
        return
    table(
        [
            [
                a["name"],
                a["status"],
                short(a["deployed"]),
                short(a["proposed"]),
                a["model"] + (" (queued)" if a.get("model_state") == "queued" else ""),
                f"#{a['pending']}" if a["pending"] else "-",
                "" if a["auto_submit"] else "auto-submit paused",
            ]
            for a in found
        ],
        ["NAME", "STATUS", "DEPLOYED", "PROPOSED", "MODEL", "PENDING", ""],
    )
    for a in found:
        if a.get("reason"):
            echo(f"{a['name']} is unreadable: {a['reason']}")
        if a["status"] == "failing":
            echo(f"{a['name']} is failing: {a['failing']}")


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, newest first.")
@click.pass_context
def history(ctx: click.Context, name: str, as_json: bool) -> None:
    """Every proposal of NAME and what became of it, newest first."""
    validate_name(name)
    entries = client_of(ctx).history(name)
    if as_json:
        print_json(entries)
        return
    table(
        [
            [
                f"#{e['id']}",
                e["kind"],
                e["head"],
                e["status"],
                e["decided_by"] or "-",
                when(e["decided_at"]),
                (e["reason"] or "")[:40],
            ]
            for e in entries
        ],
        ["ID", "KIND", "HEAD", "STATUS", "BY", "WHEN", "REASON"],
    )


@click.command()
@click.argument("name")
@click.pass_context
def stop(ctx: click.Context, name: str) -> None:
    """Stop NAME's agent; its repo, state and inbox stay, messages keep queueing."""
    validate_name(name)
    result = client_of(ctx).stop(name)
    echo(f"{name}: {result['status']}")


@click.command()
@click.argument("name")
@click.pass_context
def start(ctx: click.Context, name: str) -> None:
    """Start NAME's deployed commit again."""
    validate_name(name)
    result = client_of(ctx).start(name)
    echo(f"{name}: {result['status']} at {result['deployed']}")


AGENT_COMMANDS = (draft, spawn, agents, history, stop, start)
