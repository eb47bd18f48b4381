"""The harness's count of one turn: tool_use blocks in the agent CLI's stream-json, and
messages by the kind of who sent or got them."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_hive.protocol import RECIPIENT_KINDS, recipient_kind


def tool_basename(tool: str) -> str:
    """A tool's own name, whatever prefix the CLI gives it (mcp__hive__send -> send)."""
    return tool.rsplit("__", 1)[-1]


@dataclass
class Tally:
    """What the agent CLI's stream-json output says it did in one turn."""

    manager: str
    tools: collections.Counter[str] = field(default_factory=collections.Counter)
    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    answered: bool = False  # the model answered at least once: it read the messages

    def feed(self, line: str) -> None:
        """Count the tool_use blocks of one stream-json line; sends by their recipient's kind."""
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("type") != "assistant":
            return
        self.answered = True
        content = (event.get("message") or {}).get("content") or []
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                name = str(block.get("name", "?"))
                self.tools[name] += 1
                args = block.get("input")
                self._message(name, args if isinstance(args, dict) else {})

    def _message(self, tool: str, args: Mapping[str, Any]) -> None:
        base = tool_basename(tool)
        if base == "send":
            self.sent[recipient_kind(str(args.get("to", "")), self.manager)] += 1
        elif base == "ask_operator":
            self.sent["operator"] += 1


def received_kinds(senders: Iterable[str], manager: str) -> dict[str, int]:
    """How many of a turn's messages came from each kind of sender."""
    counts = collections.Counter(recipient_kind(s, manager) for s in senders)
    return {kind: counts[kind] for kind in RECIPIENT_KINDS if counts[kind]}
