"""What a pre-receive hook sends about a push, checked into a `Push`, pure: which agent, from
which commit to which, drafted or submitted, forced or not. Every refusal is one line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitops_hive.errors import HiveError
from gitops_hive.names import AgentName, validate_name

ZERO_SHA = "0" * 40
FULL_SHA = re.compile("[0-9a-f]{40}")
DRAFT_PREFIX = "refs/heads/"  # push here: a draft (or an existing agent's proposed/ main)
SUBMIT_PREFIX = "refs/for/"  # push here: the same, then submitted for review
FORCE_OPTION = "force"  # `git push -o force`: a rewrite of proposed/ main is meant
MAX_OPTIONS = 16
MAX_OPTION_CHARS = 200


@dataclass(frozen=True)
class Push:
    """One agent's update, as the hook reported it; the objects are still in quarantine."""

    name: AgentName
    ref: str
    old: str  # the push target's ref before the push (ZERO_SHA: it had none)
    new: str
    submit: bool  # pushed to refs/for/NAME
    force: bool  # `-o force` given
    quarantine: str  # the quarantine folder's name inside the target's objects/


def _text(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise HiveError(f"the hook sent no {what}: use the hive's own pre-receive hook")
    return raw


def _sha(raw: Any, what: str) -> str:
    sha = _text(raw, what)
    if not FULL_SHA.fullmatch(sha):
        raise HiveError(f"the hook sent {what} {sha[:50]!r}, not a full sha")
    return sha


def _options(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_OPTIONS:
        raise HiveError(f"push options must be a list of at most {MAX_OPTIONS}")
    options = [_text(item, "push option")[:MAX_OPTION_CHARS] for item in raw]
    unknown = [option for option in options if option != FORCE_OPTION]
    if unknown:
        raise HiveError(
            f"unknown push option {unknown[0]!r}: the hive knows only `-o {FORCE_OPTION}`"
        )
    return options


def _agent_ref(ref: str) -> tuple[str, bool]:
    for prefix, submit in ((DRAFT_PREFIX, False), (SUBMIT_PREFIX, True)):
        if ref.startswith(prefix):
            return ref[len(prefix) :], submit
    raise HiveError(
        f"{ref[:100]}: push to refs/heads/NAME (a draft) or refs/for/NAME (a draft submitted "
        "for review), e.g. `git push HIVE HEAD:refs/heads/NAME`"
    )


def parse_push(body: Any) -> Push:
    """The hook's report (`updates`: old, new, ref; `quarantine`; `options`) as a Push, or the
    one-line reason it is refused."""
    if not isinstance(body, dict):
        raise HiveError("the push report must be a JSON object")
    updates = body.get("updates")
    if not isinstance(updates, list) or not updates:
        raise HiveError("the hook reported no ref update")
    if len(updates) > 1:
        raise HiveError(
            f"this push updates {len(updates)} refs: push one agent at a time "
            "(`git push HIVE HEAD:refs/heads/NAME`)"
        )
    update = updates[0]
    if not isinstance(update, dict):
        raise HiveError("a ref update must be an object of old, new and ref")
    ref = _text(update.get("ref"), "ref name")
    old, new = _sha(update.get("old"), "old sha"), _sha(update.get("new"), "new sha")
    raw_name, submit = _agent_ref(ref)
    name = validate_name(raw_name)
    if new == ZERO_SHA:
        raise HiveError(
            f"{ref}: deleting a branch removes no agent and is refused; "
            f"`hivectl stop {name}` stops one"
        )
    options = _options(body.get("options"))
    return Push(
        name=name,
        ref=ref,
        old=old,
        new=new,
        submit=submit,
        force=FORCE_OPTION in options,
        quarantine=_text(body.get("quarantine"), "quarantine folder"),
    )
