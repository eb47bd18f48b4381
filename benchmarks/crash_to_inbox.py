"""Crash -> the manager's inbox: how soon an agent's death is recorded, per runtime.

Each round kills the worker's process (the `process` runtime's child, or `systemd-nspawn`
itself under `nspawn`) with SIGKILL and takes the time until the `agent_crashed` notice is
in the manager's inbox (read from hive.db every millisecond; the notice and the
`container_crash` event are one transaction). The baseline, measured on the same kills, is
a supervisor that checks its child once a second (`kill -0` and a 1 s sleep).
nspawn needs root and systemd-nspawn; without them only the process figures print.
Run: `.venv/bin/python benchmarks/crash_to_inbox.py [--rounds N]`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

from _harness import BenchHive, bench_hive, sizes, summary

EDITS = {
    '"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]',  # nothing reads the inbox
    "restart_backoff = 1.0": "restart_backoff = 0.05",
    "restart_backoff_max = 60.0": "restart_backoff_max = 0.2",
    "crash_limit = 5": "crash_limit = 100000",
    "health_crashes = 3": "health_crashes = 100000",
}
POLL_BASELINE_S = 1.0


def notices(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM messages WHERE recipient = 'manager' AND kind = 'agent_crashed'"
        ).fetchone()
        return int(row[0])


def worker_pid(hive: BenchHive, previous: int | None) -> int:
    """The worker's running pid once it differs from `previous` (it restarted)."""
    while True:
        agent = next(a for a in hive.client.agents() if a["name"] == "worker")
        pid = agent["runtime"].get("pid")
        if pid and pid != previous and agent["runtime"]["state"] == "running":
            return int(pid)
        time.sleep(0.01)


def one_second_poller(pid: int, killed: threading.Event, seen: list[float]) -> None:
    """The baseline: check the child every second, as a naive supervisor would."""
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:  # a zombie still answers kill -0
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    raise ProcessLookupError
        except (ProcessLookupError, FileNotFoundError):
            if killed.is_set():
                seen.append(time.perf_counter())
                return
        time.sleep(POLL_BASELINE_S)


def rounds_on(kind: str, rounds: int) -> tuple[list[float], list[float]]:
    with bench_hive({**EDITS, 'kind = "process"': f'kind = "{kind}"'}) as hive:
        hive.deploy("manager")
        hive.deploy("worker")
        db = hive.root / "hive.db"
        pid: int | None = None
        ours: list[float] = []
        polled: list[float] = []
        for _ in range(rounds):
            pid = worker_pid(hive, pid)
            time.sleep(0.3)  # settle: the pid's process is fully up
            before = notices(db)
            killed = threading.Event()
            seen: list[float] = []
            poller = threading.Thread(target=one_second_poller, args=(pid, killed, seen))
            poller.start()
            time.sleep(POLL_BASELINE_S * (0.1 + 0.8 * (len(ours) % 10) / 10))  # spread phases
            killed.set()
            started = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while notices(db) == before:
                time.sleep(0.001)
            ours.append((time.perf_counter() - started) * 1000)
            poller.join()
            polled.append((seen[0] - started) * 1000)
    return ours, polled


def main() -> None:
    args = sizes(__doc__, {"rounds": 2}, rounds=10)  # --quick: process only
    kinds = ["process"]
    if args.quick:
        print("nspawn: skipped by --quick")
    elif os.geteuid() == 0 and shutil.which("systemd-nspawn"):
        kinds.append("nspawn")
    else:
        print("nspawn: skipped (needs root and systemd-nspawn)")
    print(f"kill -9 -> agent_crashed in the manager's inbox, {args.rounds} rounds per runtime")
    for kind in kinds:
        ours, polled = rounds_on(kind, args.rounds)
        print(summary(f"{kind}: gitops-hive", ours))
        print(summary(f"{kind}: 1 s poll (baseline)", polled))
        ratio = sorted(polled)[len(polled) // 2] / sorted(ours)[len(ours) // 2]
        print(f"{kind}: the notice lands {ratio:.0f}x sooner than a 1 s poll notices (p50)")


if __name__ == "__main__":
    main()
