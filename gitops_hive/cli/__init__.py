"""hivectl: parse, call the controller, print. Every HiveError is one line and exit 2."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, get_args

import click

from gitops_hive.cli.common import client_of, echo, layout_of, print_json, short, table, when
from gitops_hive.cli.messages import BROKER_COMMANDS
from gitops_hive.cli.model import MODEL_COMMANDS
from gitops_hive.cli.stats import stats
from gitops_hive.client import DiffBase
from gitops_hive.errors import HiveError
from gitops_hive.layout import default_root
from gitops_hive.names import validate_name

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


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create hive.toml, hive.db, agents/, run/ and the operator token."""
    from gitops_hive.init_root import init_root

    root = layout_of(ctx).root
    made = init_root(root)
    if made:
        echo(f"initialised {root}: {', '.join(made)}")
    else:
        echo(f"{root} is already a hive; nothing changed")
    echo(f"next: hivectl --root {root} serve")


@main.command()
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


@main.command()
@click.pass_context
def token(ctx: click.Context) -> None:
    """Print the dashboard's login URL (the token rides after '#', never sent to the server)."""
    from urllib.parse import quote

    from gitops_hive.web.security import read_token

    layout = layout_of(ctx)
    secret = read_token(layout.token)
    try:
        url = layout.dashboard_url.read_text().strip()
    except FileNotFoundError:
        from gitops_hive.config import load_config

        listen = load_config(layout.config)["web.listen"]
        url = f"http://{listen}/"
    echo(f"{url}login#token={quote(secret)}")


@main.command()
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


def _echo_approval(approval: dict[str, Any], verb: str) -> None:
    valid = "valid" if approval["valid"] else "INVALID"
    echo(
        f"{verb} approval #{approval['id']} for {approval['agent']}: "
        f"{approval['kind']} {approval['head']} ({valid})"
    )
    for error in approval.get("errors", []):
        where = error["file"] + (f":{error['line']}" if error.get("line") else "")
        key = f" {error['key']}:" if error.get("key") else ""
        echo(f"  {where}:{key} {error['message']}")


@main.command()
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
        _echo_approval(approval, "queued")


@main.command()
@click.argument("name")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the approval as JSON.")
@click.pass_context
def submit(ctx: click.Context, name: str, ref: str | None, as_json: bool) -> None:
    """Pin REF of NAME's proposed/ repo (default: main) and queue it for approval."""
    validate_name(name)
    approval = client_of(ctx).submit(name, ref)
    if as_json:
        print_json(approval)
    else:
        _echo_approval(approval, "queued")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def pending(ctx: click.Context, as_json: bool) -> None:
    """List approvals waiting for a decision."""
    approvals = client_of(ctx).pending()
    if as_json:
        print_json(approvals)
        return
    if not approvals:
        echo("nothing pending")
        return
    table(
        [
            [
                f"#{a['id']}",
                a["agent"],
                a["kind"],
                a["head"],
                "yes" if a["valid"] else "NO",
                when(a["created"]),
                a["summary"][:50],
            ]
            for a in approvals
        ],
        ["ID", "AGENT", "KIND", "HEAD", "VALID", "CREATED", "SUMMARY"],
    )


def _approval_arg(value: str) -> int:
    raw = value.lstrip("#")
    if not raw.isdecimal():
        raise HiveError(f"approval id {value!r} is not a number: see `hivectl pending`")
    return int(raw)


@main.command()
@click.argument("approval_id", metavar="ID")
@click.option(
    "--base",
    type=click.Choice(get_args(DiffBase)),
    default="deployed",
    show_default=True,
    help="What to compare the proposal with.",
)
@click.option("--stat", is_flag=True, help="Only list the files changed.")
@click.pass_context
def show(ctx: click.Context, approval_id: str, base: DiffBase, stat: bool) -> None:
    """Show an approval and its diff against a base."""
    number = _approval_arg(approval_id)
    client = client_of(ctx)
    approval = client.approval(number)
    echo(f"approval #{number}  {approval['agent']}  {approval['kind']}  {approval['status']}")
    echo(f"head  {approval['head']}  {approval['summary']}")
    echo(f"base  {approval['base'] or '(empty tree)'}")
    change = approval.get("model_change")
    if change:
        how = "note" if change["note"] else change["source"]
        echo(f"model: {change['from'] or '-'} → {change['to']} ({how})")
    if approval.get("model_note"):
        echo("model note (pinned with this approval):")
        for line in approval["model_note"].splitlines():
            echo(f"    {line}")
    if approval["rewrites_history"]:
        echo(
            "WARNING: this proposal is not a descendant of the deployed commit (history rewritten)"
        )
    for error in approval["errors"]:
        where = error["file"] + (f":{error['line']}" if error.get("line") else "")
        key = f" {error['key']}:" if error.get("key") else ""
        echo(f"INVALID {where}:{key} {error['message']}")
    if approval.get("decided_by"):
        echo(
            f"decided by {approval['decided_by']} at {when(approval['decided_at'])}"
            + (f": {approval['reason']}" if approval.get("reason") else "")
        )
    if approval.get("log"):
        echo("build log:\n" + approval["log"])
    echo("")
    echo(client.diff(number, base, "stat" if stat else "patch"), nl=False)


@main.command()
@click.argument("approval_id", metavar="ID")
@click.option("--sha", required=True, help="The pinned head you reviewed (7 to 40 hex digits).")
@click.option("--no-wait", is_flag=True, help="Return once approved; do not wait for the build.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def approve(ctx: click.Context, approval_id: str, sha: str, no_wait: bool, as_json: bool) -> None:
    """Approve ID, naming the sha you reviewed; waits until it is deployed or failed."""
    number = _approval_arg(approval_id)
    client = client_of(ctx)
    if not no_wait and not as_json and sys.stderr.isatty():
        client.health()  # no controller: say only that
        echo(f"approving #{number}; building...", err=True)
    result = client.approve(number, sha, wait=not no_wait)
    if as_json:
        print_json(result)
        return
    echo(f"approval #{number}: {result['status']} ({result['agent']} at {result['head']})")
    if result["status"] == "failed":
        echo(result.get("log") or "", err=True)
        sys.exit(1)


@main.command()
@click.argument("approval_id", metavar="ID")
@click.option("--reason", required=True, help="Why; it reaches the manager.")
@click.pass_context
def deny(ctx: click.Context, approval_id: str, reason: str) -> None:
    """Deny ID with a reason."""
    number = _approval_arg(approval_id)
    result = client_of(ctx).deny(number, reason)
    echo(f"approval #{number}: denied ({result['reason']})")


@main.command()
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


@main.command()
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


@main.command()
@click.argument("name")
@click.option(
    "--to",
    "to",
    default=None,
    help="An earlier deployed sha (default: the one before the current).",
)
@click.pass_context
def rollback(ctx: click.Context, name: str, to: str | None) -> None:
    """Deploy a new commit with an earlier deployment's tree; pauses auto-submit."""
    validate_name(name)
    result = client_of(ctx).rollback(name, to)
    echo(f"rollback #{result['id']}: {result['status']} ({name} at {result['head']})")
    echo(f"auto-submit for {name} is paused: `hivectl resume {name}` turns it back on")
    if result["status"] == "failed":
        sys.exit(1)


@main.command()
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Let the watcher submit NAME's proposed/ main again."""
    validate_name(name)
    result = client_of(ctx).resume(name)
    echo(f"auto-submit for {name} resumed")
    if result.get("submitted"):
        _echo_approval(result["submitted"], "queued")


for _command in (*BROKER_COMMANDS, *MODEL_COMMANDS, stats):
    main.add_command(_command)
