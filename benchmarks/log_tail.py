"""What reading the agent page's log tail costs: `web.agent_log.readable` over a 50-line tail
of the agent CLI's stream-json (what the model said, tool calls, 20 KB tool results, results),
against the baseline in the same run, the raw lines escaped as the "Raw lines" view shows
them. No hive: the page renders both from the same tail.
Prints figures; asserts nothing about time.
Run: `.venv/bin/python benchmarks/log_tail.py [--rounds N]`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from _harness import sizes

from gitops_hive.readable_log import readable
from gitops_hive.text import escape_unsafe

TAIL = 50  # the lines the agent page shows


def tail() -> list[str]:
    """A turn's lines, ten times: text, a tool call, a 20 KB result, a harness line, a result."""
    lines: list[str] = []
    for i in range(TAIL // 5):
        text = {"type": "text", "text": f"Step {i}: looking at the index. " * 20}
        call = {"type": "tool_use", "name": "Bash", "input": {"command": "git log -50"}}
        result = {"type": "tool_result", "content": "a1b2c3d commit message\n" * 870}
        lines += [
            json.dumps({"type": "assistant", "message": {"content": [text]}}),
            json.dumps({"type": "assistant", "message": {"content": [call]}}),
            json.dumps({"type": "user", "message": {"content": [result]}}),
            "harness: turn ended: exit 0 in 4.3s, tools {'Bash': 1}",
            json.dumps(
                {
                    "type": "result",
                    "subtype": "success",
                    "num_turns": 3,
                    "duration_ms": 4200,
                    "total_cost_usd": 0.0123,
                }
            ),
        ]
    return lines


def per_call(work: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    rounds = sizes(__doc__, {"rounds": 30}, rounds=500).rounds
    lines = tail()
    size = sum(len(line) for line in lines)
    shown = readable(lines)
    print(
        f"{len(lines)} lines, {size:,} bytes; readable: {len(shown)} lines, "
        f"{sum(len(s.text) for s in shown):,} characters"
    )
    for name, work in (
        ("readable lines", lambda: readable(lines)),
        ("baseline: raw lines escaped", lambda: [escape_unsafe(line) for line in lines]),
    ):
        times = per_call(work, rounds)
        p50 = statistics.median(times) * 1000
        p95 = statistics.quantiles(times, n=20)[18] * 1000
        print(f"{name:30} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({rounds} rounds)")


if __name__ == "__main__":
    main()
