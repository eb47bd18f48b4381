"""Commit -> pending approval latency, against a 1 s ref poller watching the same commits.

The manager commits to proposed/ with the git CLI; the figure is the time from the moment
the ref file changed (its mtime) to the moment the controller stored the pinned approval
(its `created` stamp). A baseline poller in this process reads the same ref once a second,
as a polling GitOps controller at its tightest interval would, and notes when it saw each
commit. Run: `.venv/bin/python benchmarks/commit_to_pending.py [--commits N]`.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from _harness import bench_hive, sizes, summary

POLL_INTERVAL = 1.0


class RefPoller(threading.Thread):
    """The baseline: read refs/heads/main every POLL_INTERVAL seconds, note when it changes."""

    def __init__(self, ref_file: Path) -> None:
        super().__init__(daemon=True)
        self.ref_file = ref_file
        self.seen: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(POLL_INTERVAL):
            sha = self.ref_file.read_text().strip()
            self.seen.setdefault(sha, time.time())


def main() -> None:
    args = sizes(__doc__, {"commits": 5}, commits=50)
    with bench_hive() as hive:
        hive.deploy("worker")
        proposed = hive.layout.agent("worker").proposed
        ref_file = proposed / ".git" / "refs" / "heads" / "main"
        poller = RefPoller(ref_file)
        poller.start()
        hive_ms: list[float] = []
        end_to_end_ms: list[float] = []
        committed: list[tuple[str, float]] = []
        for i in range(args.commits):
            done = hive.commit_until_pending("worker", f"Step {i}")
            hive_ms.append(done.latency_ms)
            end_to_end_ms.append((done.pending["created"] - done.started) * 1000)
            committed.append((done.sha, done.changed))
            # Space the commits out at random so the poller's phase is not always the same.
            time.sleep(POLL_INTERVAL * (1 + random.random()))
        time.sleep(POLL_INTERVAL * 1.5)
        poller.halt.set()
        baseline_ms = [
            (poller.seen[sha] - at) * 1000 for sha, at in committed if sha in poller.seen
        ]
    print(f"commit -> pending approval, {args.commits} commits by the git CLI")
    print(summary("gitops-hive (ref change -> pinned)", hive_ms))
    print(summary("  including git commit itself", end_to_end_ms))
    print(summary(f"baseline: {POLL_INTERVAL:g} s ref poller", baseline_ms))
    ratio = sorted(baseline_ms)[len(baseline_ms) // 2] / sorted(hive_ms)[len(hive_ms) // 2]
    print(f"median speed-up over the poller: {ratio:.0f}x")


if __name__ == "__main__":
    main()
