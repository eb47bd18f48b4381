"""hivectl send, recv, questions, answer: the operator's side of the hive's conversations."""

from __future__ import annotations

import click

from gitops_hive.cli.common import client_of, echo, print_json, table, when
from gitops_hive.errors import HiveError
from gitops_hive.names import validate_name
from gitops_hive.numbers import whole_number
from gitops_hive.protocol import MAX_WAIT_SECONDS


@click.command()
@click.argument("to")
@click.argument("body")
@click.option("--json", "as_json", is_flag=True, help="Print the stored message as JSON.")
@click.pass_context
def send(ctx: click.Context, to: str, body: str, as_json: bool) -> None:
    """Put BODY in TO's inbox, from the operator."""
    validate_name(to)
    message = client_of(ctx).send(to, body)
    if as_json:
        print_json(message)
        return
    echo(f"message #{message['id']} queued for {to}")


@click.command()
@click.argument("name")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help=f"Seconds to wait for a message when none is there (at most {MAX_WAIT_SECONDS:g}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@click.pass_context
def recv(ctx: click.Context, name: str, wait: float, as_json: bool) -> None:
    """Show NAME's unread messages, leaving them for the agent."""
    validate_name(name)
    delivery = client_of(ctx).inbox(name, wait)
    if as_json:
        print_json(delivery)
        return
    if delivery.get("note"):
        echo(f"note: {delivery['note']}", err=True)
    messages = delivery["messages"]
    if not messages:
        echo(f"no unread messages for {name}")
        return
    for message in messages:
        echo(
            f"#{message['id']} {when(message['created'])} from {message['from']} "
            f"[{message['kind']}]"
        )
        echo(f"    {message['body']}")


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Answered questions too.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def questions(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """The manager's questions to you, newest first."""
    found = client_of(ctx).questions(include_answered=show_all)
    if as_json:
        print_json(found)
        return
    if not found:
        echo("no open questions" if not show_all else "no questions yet")
        return
    table(
        [
            [
                f"#{q['id']}",
                q["asker"],
                when(q["created"]),
                q["question"][:60],
                " | ".join(q["options"]) or "-",
                q["answer"] if q["answer"] is not None else "(open)",
            ]
            for q in found
        ],
        ["ID", "FROM", "ASKED", "QUESTION", "OPTIONS", "ANSWER"],
    )


@click.command()
@click.argument("question_id", metavar="ID")
@click.argument("text")
@click.pass_context
def answer(ctx: click.Context, question_id: str, text: str) -> None:
    """Answer question ID; the answer lands in the asker's inbox."""
    number = whole_number(question_id)
    if number is None:
        raise HiveError(f"question id {question_id[:40]!r} is not a number: `hivectl questions`")
    result = client_of(ctx).answer(number, text)
    echo(f"question #{number} answered; the answer is in {result['asker']}'s inbox")


MESSAGE_COMMANDS = (send, recv, questions, answer)
