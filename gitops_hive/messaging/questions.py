"""The manager's questions to the operator, and answers delivered to the manager's inbox."""

from __future__ import annotations

from typing import Any

from gitops_hive.context import HiveContext
from gitops_hive.errors import Conflict, HiveError, NotFound
from gitops_hive.messaging.rules import require_text
from gitops_hive.protocol import OPERATOR
from gitops_hive.records import Question
from gitops_hive.store import inbox
from gitops_hive.text import UNSHOWABLE

MAX_QUESTION_CHARS = 4000
MAX_OPTIONS = 10
MAX_OPTION_CHARS = 200  # an option is a button's label


def _options(raw: Any) -> list[str]:
    """Each option a button's label: short, one line, nothing hidden."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(o, str) and o.strip() for o in raw):
        raise HiveError("options must be a list of non-empty strings")
    if len(raw) > MAX_OPTIONS:
        raise HiveError(f"at most {MAX_OPTIONS} options (got {len(raw)})")
    for number, option in enumerate(raw, start=1):
        if len(option) > MAX_OPTION_CHARS:
            raise HiveError(
                f"option {number} is {len(option)} characters; keep each under "
                f"{MAX_OPTION_CHARS} and put the detail in the question"
            )
        if UNSHOWABLE.search(option):
            raise HiveError(
                f"option {number} holds a control character or a bidi mark; give each "
                "option as plain one-line text"
            )
    return list(raw)


async def ask(ctx: HiveContext, asker: str, raw_question: Any, raw_options: Any) -> Question:
    """Store a question for the operator; the dashboard and `hivectl questions` show it."""
    question = require_text(raw_question, "question")
    if len(question) > MAX_QUESTION_CHARS:
        raise HiveError(
            f"question is {len(question)} characters; keep it under {MAX_QUESTION_CHARS}"
        )
    options = _options(raw_options)
    async with ctx.db.write() as conn:
        stored = await inbox.insert_question(conn, asker, question, options)
    ctx.bus.publish("question", id=stored.id)
    return stored


async def answer(ctx: HiveContext, question_id: int, raw_answer: Any, who: str) -> Question:
    """Record the answer once and put it in the asker's inbox, in one transaction."""
    text = require_text(raw_answer, "answer")
    question = await inbox.get_question(ctx.db, question_id)
    if question is None:
        raise NotFound(f"no question #{question_id}: `hivectl questions` lists the open ones")
    async with ctx.db.write() as conn:
        if not await inbox.answer_question(conn, question_id, text, who):
            raise Conflict(f"question #{question_id} was already answered")
        await ctx.broker.post(
            conn,
            OPERATOR,
            question.asker,
            text,
            kind="answer",
            data={"question_id": question_id, "question": question.question, "by": who},
        )
    ctx.broker.wake(question.asker)
    ctx.bus.publish("question", id=question_id)
    answered = await inbox.get_question(ctx.db, question_id)
    assert answered is not None
    return answered


async def listing(ctx: HiveContext, *, open_only: bool, limit: int | None = None) -> list[Question]:
    """Questions newest first; only unanswered ones when `open_only`; the newest `limit`."""
    return await inbox.list_questions(ctx.db, open_only=open_only, limit=limit)
