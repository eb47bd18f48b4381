"""The model-override note: its TOML body, its validation, and how the effective model is chosen.

Pure: no git, no database. `models.py` reads the notes and carries the decisions out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError

from gitops_hive.errors import HiveError
from gitops_hive.spec import Problem
from gitops_hive.text import UNSHOWABLE

NOTE_FILE = "refs/notes/hive/model"  # how a note's errors name where they are
CLEAR = "default"  # a note saying model = "default" clears the override
MAX_FIELD = 500
KEY_LINE = re.compile(r"^\s*(\w+)\s*=", re.MULTILINE)


@dataclass(frozen=True)
class ModelNote:
    """An override: the model, who set it and why. `model == "default"` clears."""

    model: str
    set_by: str = ""
    reason: str = ""

    @property
    def clears(self) -> bool:
        return self.model == CLEAR

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "set_by": self.set_by, "reason": self.reason}


@dataclass(frozen=True)
class Effective:
    """The model an agent runs and where it comes from."""

    model: str
    source: str  # "note" | "agent.toml" | "default"
    note_commit: str | None = None
    note: ModelNote | None = None


def render_note(note: ModelNote) -> str:
    """The note's TOML body."""
    doc = tomlkit.document()
    doc["model"] = note.model
    doc["set_by"] = note.set_by
    if note.reason:
        doc["reason"] = note.reason
    return tomlkit.dumps(doc)


def _line_of(text: str, key: str) -> int | None:
    for match in KEY_LINE.finditer(text):
        if match.group(1) == key:
            return text.count("\n", 0, match.start()) + 1
    return None


def parse_note(
    text: str, allowed: tuple[str, ...] | None
) -> tuple[ModelNote | None, list[Problem]]:
    """Validate a note's body (`allowed` None: any model name); errors name ref, line, key."""

    def problem(key: str | None, message: str, line: int | None = None) -> Problem:
        return Problem(
            NOTE_FILE, line if line is not None else _line_of(text, key or ""), key, message
        )

    try:
        data = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        return None, [Problem(NOTE_FILE, exc.line, None, f"not valid TOML: {exc}")]
    except TOMLKitError as exc:
        return None, [Problem(NOTE_FILE, None, None, f"not valid TOML: {exc}")]
    problems: list[Problem] = []
    for key in data:
        if key not in ("model", "set_by", "reason"):
            problems.append(problem(key, "unknown key; a model note has model, set_by, reason"))
    model = data.get("model")
    if not isinstance(model, str) or not model:
        problems.append(problem("model", 'required, a string such as "sonnet"'))
    elif allowed is not None and model != CLEAR and model not in allowed:
        problems.append(
            problem("model", f"unknown model {model!r}; hive.toml allows {', '.join(allowed)}")
        )
    for key in ("model", "set_by", "reason"):
        value = data.get(key, "")
        if key != "model" and (not isinstance(value, str) or len(value) > MAX_FIELD):
            problems.append(problem(key, f"must be a string of at most {MAX_FIELD} characters"))
        elif isinstance(value, str) and UNSHOWABLE.search(value):
            problems.append(problem(key, "holds control or bidirectional-override characters"))
    if problems:
        return None, problems
    return ModelNote(str(model), str(data.get("set_by", "")), str(data.get("reason", ""))), []


def check_model(model: str, allowed: tuple[str, ...]) -> str:
    """The operator's model name, or a one-line refusal listing what hive.toml allows."""
    name = model.strip()
    if name not in allowed:
        raise HiveError(f"unknown model {model!r}: hive.toml `models` allows {', '.join(allowed)}")
    return name


def check_reason(reason: str | None) -> str:
    """The operator's reason for a switch, or a one-line refusal."""
    text = (reason or "").strip()
    if len(text) > MAX_FIELD:
        raise HiveError(f"the reason is over {MAX_FIELD} characters; shorten it")
    if UNSHOWABLE.search(text):
        raise HiveError("the reason holds control or bidirectional-override characters; drop them")
    return text


def effective(
    note: tuple[str, ModelNote] | None, spec_model: str | None, default_model: str
) -> Effective:
    """The note found first on first-parent history, else agent.toml, else the hive default."""
    if note is not None and not note[1].clears:
        return Effective(note[1].model, "note", note[0], note[1])
    if spec_model:
        return Effective(spec_model, "agent.toml")
    return Effective(default_model, "default")


def model_state(effective_model: str, last_turn_model: str | None) -> str:
    """active: the last turn ran with the effective model; queued: the next turn will."""
    return "active" if last_turn_model == effective_model else "queued"
