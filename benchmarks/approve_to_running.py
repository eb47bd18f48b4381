"""Approve -> running latency on the `process` runtime, against the runtime's own start grace.

For each round the manager commits a prompt change, the controller pins it, and the
benchmark approves it through the control API; the figure is the wall time until the
approve call returns with the new commit running. The baseline is the start grace from
`hive.toml`: the time the runtime must watch a new process before it counts as started, so
what lies beyond it is the controller's own cost (checks, ref moves, sqlite). Run:
`.venv/bin/python benchmarks/approve_to_running.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import time

import tomlkit
from _harness import bench_hive, git, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with bench_hive() as hive:
        grace = float(tomlkit.parse(hive.layout.config.read_text())["runtime"]["start_grace"])  # type: ignore[index,arg-type]
        hive.deploy("worker")
        proposed = hive.layout.agent("worker").proposed
        approve_ms: list[float] = []
        for i in range(args.rounds):
            with (proposed / "prompt.md").open("a") as handle:
                handle.write(f"\nRound {i}.\n")
            git(proposed, "commit", "-qam", f"round {i}")
            sha = git(proposed, "rev-parse", "HEAD")
            while (pending := hive.pending("worker")) is None or pending["head"] != sha:
                time.sleep(0.005)
            started = time.perf_counter()
            result = hive.client.post(f"/api/approvals/{pending['id']}/approve", {"sha": sha})
            approve_ms.append((time.perf_counter() - started) * 1000)
            assert result["status"] == "deployed", result
    overhead = [ms - grace * 1000 for ms in approve_ms]
    print(f"approve -> running, {args.rounds} rounds, start grace {grace:g} s")
    print(summary("approve call until deployed", approve_ms))
    print(summary("  controller overhead beyond grace", overhead))
    median = sorted(overhead)[len(overhead) // 2]
    print(f"overhead is {median / (grace * 1000):.1%} of the start grace the runtime waits")


if __name__ == "__main__":
    main()
