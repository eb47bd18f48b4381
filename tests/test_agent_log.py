"""The agent page's log tail: the agent CLI's stream-json as readable lines, hostile text
escaped, other lines as they are."""

from __future__ import annotations

import json

from gitops_hive.readable_log import ARGS_CHARS, LogLine, readable


def event(kind: str, *blocks: dict[str, object]) -> str:
    return json.dumps({"type": kind, "message": {"content": list(blocks)}})


def test_stream_json_events_become_readable_lines() -> None:
    lines = [
        json.dumps({"type": "system", "subtype": "init", "model": "opus", "tools": ["Bash"]}),
        event("assistant", {"type": "text", "text": "Looking at the index.\nThen the docs."}),
        event(
            "assistant",
            {"type": "tool_use", "name": "Bash", "input": {"command": "git log -1"}},
            {"type": "tool_use", "name": "mcp__hive__send", "input": {"to": "boss", "body": "hi"}},
        ),
        event("user", {"type": "tool_result", "content": [{"type": "text", "text": "abc\n def"}]}),
        event("user", {"type": "tool_result", "content": "denied", "is_error": True}),
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "num_turns": 3,
                "duration_ms": 4200,
                "total_cost_usd": 0.01234,
                "result": "Done.",
            }
        ),
        "harness: turn ended: exit 0 in 4.3s",
    ]
    assert readable(lines) == [
        LogLine("system", "session started, model opus"),
        LogLine("text", "Looking at the index.\nThen the docs."),
        LogLine("tool", "→ Bash(git log -1)"),
        LogLine("tool", '→ mcp__hive__send({"body": "hi", "to": "boss"})'),
        LogLine("tool_result", "← abc def"),
        LogLine("tool_result", "✗ denied"),
        LogLine("result", "✓ done: 3 turn(s), 4.2 s, $0.0123 — Done."),
        LogLine("plain", "harness: turn ended: exit 0 in 4.3s"),
    ]


def test_a_failed_run_and_odd_lines_are_shown_for_what_they_are() -> None:
    failed = json.dumps({"type": "result", "subtype": "error_max_turns", "is_error": True})
    assert readable([failed]) == [LogLine("result", "✗ failed (error_max_turns)")]
    assert readable(['{"type": "stream_event"}']) == []  # nothing a reader needs
    assert readable(["{not json", "[1, 2]", '{"no": "type"}']) == [
        LogLine("plain", "{not json"),
        LogLine("plain", "[1, 2]"),
        LogLine("plain", '{"no": "type"}'),
    ]
    assert readable([event("assistant", "a string block", {"type": "thinking"})]) == []
    assert readable([json.dumps({"type": "assistant", "message": "not an object"})]) == []


def test_long_arguments_are_cut_and_hostile_text_is_escaped() -> None:
    long_call = event("assistant", {"type": "tool_use", "name": "Write", "input": {"a": "x" * 500}})
    (line,) = readable([long_call])
    assert line.text.startswith("→ Write(xxx") and line.text.endswith("…)")
    assert len(line.text) == len("→ Write()") + ARGS_CHARS
    hostile = event(
        "assistant",
        {"type": "text", "text": "ok\x1b]52;c;ZXZpbA==\x07 \u202eevil"},
        {"type": "tool_use", "name": "Bash\x1b[2J", "input": {"command": "rm\u2066 -rf"}},
    )
    text, tool = readable([hostile, "plain \x1b[31mred\u202e"])[:2]
    for shown in (text.text, tool.text, readable(["plain \x1b[31mred\u202e"])[0].text):
        assert "\x1b" not in shown and "\u202e" not in shown and "\u2066" not in shown
    assert "\\x1b]52" in text.text and "\\u202e" in text.text
    assert tool.text == "→ Bash\\x1b[2J(rm\\u2066 -rf)"
