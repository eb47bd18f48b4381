"""An agent's log tail as readable lines: the agent CLI's stream-json events rendered (what the
model said, the tools it called and what they returned, the run's result), every other line
as it is. Agent output is hostile: each line is escaped here and again by the template."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gitops_hive.text import escape_line, escape_unsafe

TEXT_CHARS = 2000  # of what the model said, per block
ARGS_CHARS = 120  # of a tool call's arguments
RESULT_CHARS = 200  # of what a tool returned


@dataclass(frozen=True)
class LogLine:
    """One readable line: its kind (text, tool, tool_result, result, system, plain) and text."""

    kind: str
    text: str


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int) -> str:
    return escape_line(shorten(" ".join(text.split()), limit))


def _arguments(raw: Any) -> str:
    if isinstance(raw, dict) and len(raw) == 1:
        (value,) = raw.values()  # one argument: its value says enough
        raw = value
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, sort_keys=True)
    return _one_line(text, ARGS_CHARS)


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content if isinstance(b, dict)]
        return " ".join(str(p) for p in parts if p)
    return str(content or "")


def _assistant(message: Any) -> Iterator[LogLine]:
    content = message.get("content") if isinstance(message, dict) else None
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and str(block.get("text", "")).strip():
            text = escape_unsafe(shorten(str(block["text"]).strip(), TEXT_CHARS))
            yield LogLine("text", text)
        elif kind == "tool_use":
            name = escape_line(shorten(str(block.get("name", "?")), 100))
            yield LogLine("tool", f"→ {name}({_arguments(block.get('input', {}))})")


def _user(message: Any) -> Iterator[LogLine]:
    content = message.get("content") if isinstance(message, dict) else None
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            mark = "✗" if block.get("is_error") else "←"
            text = _one_line(_result_text(block.get("content")), RESULT_CHARS)
            yield LogLine("tool_result", f"{mark} {text}" if text else mark)


def _figures(event: dict[str, Any]) -> str:
    figures = []
    if isinstance(event.get("num_turns"), int):
        figures.append(f"{event['num_turns']} turn(s)")
    if isinstance(event.get("duration_ms"), int | float):
        figures.append(f"{event['duration_ms'] / 1000:.1f} s")
    if isinstance(event.get("total_cost_usd"), int | float):
        figures.append(f"${event['total_cost_usd']:.4f}")
    return ", ".join(figures)


def _result(event: dict[str, Any]) -> LogLine:
    failed = bool(event.get("is_error")) or event.get("subtype") not in (None, "success")
    head = "✗ failed" if failed else "✓ done"
    if failed and event.get("subtype"):
        head += f" ({_one_line(str(event['subtype']), 60)})"
    figures = _figures(event)
    text = f"{head}{': ' + figures if figures else ''}"
    if isinstance(event.get("result"), str) and event["result"].strip():
        text += f" — {_one_line(event['result'], RESULT_CHARS)}"
    return LogLine("result", text)


def _system(event: dict[str, Any]) -> LogLine:
    if event.get("subtype") == "init":
        model = _one_line(str(event.get("model", "?")), 100)
        return LogLine("system", f"session started, model {model}")
    return LogLine("system", f"system: {_one_line(str(event.get('subtype', '?')), 100)}")


def _event_lines(event: dict[str, Any]) -> list[LogLine]:
    kind = event.get("type")
    if kind == "assistant":
        return list(_assistant(event.get("message")))
    if kind == "user":
        return list(_user(event.get("message")))
    if kind == "result":
        return [_result(event)]
    if kind == "system":
        return [_system(event)]
    return []


def readable(lines: Iterable[str]) -> list[LogLine]:
    """The log lines as a reader wants them: stream-json events rendered, a line that is no
    event (the harness's own, a program's output) as it is, controls and bidi escaped."""
    out: list[LogLine] = []
    for line in lines:
        stripped = line.strip()
        event: Any = None
        if stripped.startswith("{"):
            try:
                event = json.loads(stripped)
            except (ValueError, RecursionError):  # the agent wrote it: nested past the parser
                event = None
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            out.extend(_event_lines(event))  # an event with nothing to show shows nothing
        else:
            out.append(LogLine("plain", escape_unsafe(line)))
    return out
