"""hivectl stats against a real controller whose agents run real turns through the harness."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import ServedHive
from tests.test_harness import deploy

pytestmark = pytest.mark.e2e


def test_stats_shows_real_turns_as_a_table_and_as_json(harness_hive: ServedHive) -> None:
    served = harness_hive
    deploy(served, "manager")
    deploy(served, "worker")
    for text in ("index the docs", "and the tests"):
        assert served.cli("send", "worker", text).returncode == 0

    def both_handled() -> dict[str, Any] | None:
        data: dict[str, Any] = served.json("stats", "worker", "--since", "10m")
        tools = data["summary"]["tools"]
        return data if tools.get("mcp__hive__send") == 2 else None

    # The two messages may take one turn or two.
    data = served.wait_for(both_handled, timeout=30, what="both messages handled in /api/stats")
    summary = data["summary"]
    assert data["agent"] == "worker" and data["resolution"] == "raw"
    assert summary["exits"]["ok"] == summary["turns"] and summary["exits"]["failure"] == 0
    # Each operator message came in and was acknowledged to the manager.
    assert summary["received_per_turn"]["operator"] * summary["turns"] == 2
    assert summary["sent_per_turn"]["manager"] * summary["turns"] == 2
    assert summary["tools"]["mcp__hive__send"] == 2
    assert summary["notes_bytes"] > 0
    assert summary["inbox_depth"]["max"] is not None  # sampled as the messages landed
    assert data["stuck"] is False

    table = served.cli("stats", "worker")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("worker: ") and "(raw," in lines[0]
    assert lines[1].split() == ["SERIES", "VALUE"]
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines[2:])
    assert rows["turns"] == str(summary["turns"])
    assert rows["exits ok / retried / failure"] == f"{summary['turns']} / 0 / 0"
    assert rows["last turn"].endswith(" s ago")
    assert "mcp__hive__send 2" in rows["tool calls"]

    keys = served.cli("stats", "worker", "--keys", "turns,tool:mcp__hive__send")
    assert keys.returncode == 0, keys.stderr
    assert [line.split()[0] for line in keys.stdout.splitlines()[1:]] == [
        "KEY",
        "turns",
        "tool:mcp__hive__send",
    ]
    raw = json.loads(served.cli("stats", "worker", "--json", "--keys", "turns").stdout)
    assert list(raw["keys"]) == ["turns"]


def test_stats_errors_are_one_line(served: ServedHive) -> None:
    served.cli("draft", "worker")
    for args, message in [
        (("nobody",), "error: no agent nobody"),
        (("worker", "--since", "lately"), "error: 'lately' is not a duration"),
        (("worker", "--keys", "bogus"), "error: unknown key 'bogus'"),
        (("Bad",), "error: invalid agent name"),
    ]:
        result = served.cli("stats", *args)
        assert result.returncode == 2, (args, result.stdout)
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    empty = served.cli("stats", "worker")
    assert empty.returncode == 0 and "never" in empty.stdout
