"""hivectl submit, pending, show, approve, deny, rollback, resume: proposals and decisions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, get_args

import click

from gitops_hive.cli.common import client_of, echo, print_json, short, table, when
from gitops_hive.client import DiffBase, DiffFormat
from gitops_hive.errors import HiveError
from gitops_hive.names import validate_name
from gitops_hive.numbers import whole_number
from gitops_hive.text import escape_line


def echo_approval(approval: dict[str, Any], verb: str) -> None:
    """One line for a queued approval, then each validation error under it."""
    valid = "valid" if approval["valid"] else "INVALID"
    echo(
        f"{verb} approval #{approval['id']} for {approval['agent']}: "
        f"{approval['kind']} {approval['head']} ({valid})"
    )
    for error in approval.get("errors", []):
        where = error["file"] + (f":{error['line']}" if error.get("line") else "")
        key = f" {error['key']}:" if error.get("key") else ""
        echo(f"  {where}:{key} {error['message']}")


def _approval_arg(value: str) -> int:
    number = whole_number(value)
    if number is None:
        raise HiveError(f"approval id {value[:40]!r} is not a number: see `hivectl pending`")
    return number


@click.command()
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
        echo_approval(approval, "queued")


@click.command()
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


def echo_changes(approval: dict[str, Any]) -> None:
    """What changes, in words, and the risks first."""
    for warning in approval.get("warnings", []):
        if warning["code"] == "carries_denied":
            echo(f"WARNING {escape_line(warning['message'])}")
    for risk in approval.get("risks", []):
        echo(f"RISK {risk['code']}: {escape_line(risk['detail'])}")
    changes = approval.get("changes")
    if not changes:
        return
    lines = []
    for what, label in (("tools", "tools"), ("packages", "packages"), ("messaging", "may message")):
        lines += [f"{label} + {x}" for x in changes[what]["added"]]
        lines += [f"{label} - {x}" for x in changes[what]["removed"]]
    env = changes["env"]
    lines += [f"env + {k}={v}" for k, v in env["added"].items()]
    lines += [f"env - {k}" for k in env["removed"]]
    lines += [f"env {k}: {v['from']} -> {v['to']}" for k, v in env["changed"].items()]
    binds = changes["container"]["binds"]
    lines += [f"container path + {x}" for x in binds["added"]]
    lines += [f"container path - {x}" for x in binds["removed"]]
    network = changes["container"]["network"]
    if network["from"] != network["to"]:
        lines.append(f"network: {network['from']} -> {network['to']}")
    prompt = changes["prompt_bytes"]
    if prompt["from"] != prompt["to"]:
        lines.append(f"prompt.md: {prompt['from']} -> {prompt['to']} bytes")
    if lines:
        echo("changes:")
        for line in lines:
            echo(f"  {escape_line(line)}")  # a value's newline must not print a line of its own


def echo_commits(approval: dict[str, Any]) -> None:
    """Every commit from base to head: sha, parents of a merge, author, date, full message."""
    commits = approval.get("commits", [])
    total = approval.get("commits_total", len(commits))
    echo(f"{total} commit{'' if total == 1 else 's'}:")
    for commit in commits:
        merge = ""
        if len(commit["parents"]) > 1:
            merge = "  merge of " + ", ".join(short(p) for p in commit["parents"])
        echo(f"  commit {commit['sha']}{merge}")
        echo(f"  Author: {commit['author']}  {when(commit['date'])}")
        if commit["committer"] != commit["author"]:
            echo(f"  Commit: {commit['committer']}")
        for line in commit["message"].rstrip("\n").splitlines():
            echo(f"      {line}")
    if total > len(commits):
        echo(f"  ... and {total - len(commits)} older commits")


@click.command()
@click.argument("approval_id", metavar="ID")
@click.option(
    "--base",
    type=click.Choice(get_args(DiffBase)),
    default="deployed",
    show_default=True,
    help="What to compare the proposal with.",
)
@click.option("--stat", is_flag=True, help="Only list the files changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the approval as JSON (no diff).")
@click.argument("paths", nargs=-1, metavar="[-- PATH...]")
@click.pass_context
def show(
    ctx: click.Context,
    approval_id: str,
    base: DiffBase,
    stat: bool,
    as_json: bool,
    paths: tuple[str, ...],
) -> None:
    """Show an approval, its commits, what changes and its diff against a base; with
    `-- PATH...`, only those files' diffs, in full, however large the proposal."""
    number = _approval_arg(approval_id)
    client = client_of(ctx)
    approval = client.approval(number)
    if as_json:
        print_json(approval)
        return
    echo(f"approval #{number}  {approval['agent']}  {approval['kind']}  {approval['status']}")
    echo(f"head  {approval['head']}  {approval['summary']}")
    echo(f"base  {approval['base'] or '(empty tree)'}")
    echo_changes(approval)
    echo_commits(approval)
    change = approval.get("model_change")
    if change:
        how = "note" if change["note"] else change["source"]
        echo(f"model: {change['from'] or '-'} → {change['to']} ({how})")
    if approval.get("model_note"):
        echo("model note (pinned with this approval):")
        for line in approval["model_note"].splitlines():
            echo(f"    {line}")
    network = approval.get("network")
    if network:
        echo(f"network: {network['mode']}: {network['summary']}")
    for warning in approval.get("warnings", []):
        if warning["code"] != "carries_denied":  # printed with the changes, on top
            echo(f"WARNING ({warning['code']}): {escape_line(warning['message'])}")
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
    fmt: DiffFormat = "stat" if stat else "patch"
    for path in paths:
        echo(client.diff(number, base, fmt, file=path), nl=False)
    if not paths:
        echo(client.diff(number, base, fmt), nl=False)


@click.command()
@click.argument("approval_id", metavar="ID")
@click.option("--sha", required=True, help="The pinned head you reviewed (7 to 40 hex digits).")
@click.option("--no-wait", is_flag=True, help="Return once approved; do not wait for the build.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def approve(ctx: click.Context, approval_id: str, sha: str, no_wait: bool, as_json: bool) -> None:
    """Approve ID, naming the sha you reviewed; waits until it is deployed or failed."""
    number = _approval_arg(approval_id)
    client = client_of(ctx)
    if no_wait or as_json:
        result = client.approve(number, sha, wait=not no_wait)
        if as_json:
            print_json(result)
            return
    else:
        result = client.approve_showing_progress(number, sha, _progress_printer(number))
    echo(f"approval #{number}: {result['status']} ({result['agent']} at {result['head']})")
    if result["status"] == "failed":
        echo(result.get("log") or "", err=True)
        sys.exit(1)


def _progress_printer(number: int) -> Callable[[str], None]:
    """Print a build's progress lines on stderr, under a heading (only once there are some,
    so a refused approve stays one line)."""
    started = False

    def show(line: str) -> None:
        nonlocal started
        if not started:
            echo(f"approval #{number}: building", err=True)
            started = True
        echo(f"  {line}", err=True)

    return show


@click.command()
@click.argument("approval_id", metavar="ID")
@click.option("--reason", required=True, help="Why; it reaches the manager.")
@click.pass_context
def deny(ctx: click.Context, approval_id: str, reason: str) -> None:
    """Deny ID with a reason."""
    number = _approval_arg(approval_id)
    result = client_of(ctx).deny(number, reason)
    echo(f"approval #{number}: denied ({result['reason']})")


@click.command()
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


@click.command()
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Let the watcher submit NAME's proposed/ main again."""
    validate_name(name)
    result = client_of(ctx).resume(name)
    echo(f"auto-submit for {name} resumed")
    if result.get("submitted"):
        echo_approval(result["submitted"], "queued")


APPROVAL_COMMANDS = (submit, pending, show, approve, deny, rollback, resume)
