"""Draft -> in the running manager's /agents: how soon the manager can commit to a new agent.

An nspawn hive with a running manager: each round a poller inside the manager's container
(entered with nsenter, as the terminal does, spinning on `test -e`) waits for
/agents/NAME/config/agent.toml, and the benchmark drafts NAME through the control API; the
figures are the draft call and the time until the poller saw the file. The baselines, in
the same run: the draft call on a `process` hive (no view to lay), and what the manager had
before the view followed drafts: a restart of its container (stop, start) until the draft
is there.
Needs root and systemd-nspawn.
Run: `.venv/bin/python benchmarks/draft_to_manager.py [--rounds N]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable

from _harness import BenchHive, bench_hive, sizes, summary

from gitops_hive.runtime.shell import find_leader, nspawn_shell


def command_edits(kind: str) -> dict[str, str]:
    """The runtime, and agents that only wait: what is measured is the view, not a harness."""
    return {
        'kind = "process"': f'kind = "{kind}"',
        'command = ["{python}", "-m", "gitops_hive.agent.harness"]': 'command = ["sleep", "1e6"]',
    }


def poller(hive: BenchHive, name: str) -> subprocess.Popen[bytes]:
    """A loop inside the manager's container that ends once NAME's repo is there."""
    manager = next(a for a in hive.client.agents() if a["name"] == "manager")
    leader = find_leader(int(manager["runtime"]["pid"]))
    wait = f"while [ ! -e /agents/{name}/config/agent.toml ]; do :; done"
    shell = nspawn_shell(leader, ["/bin/sh", "-c", wait])
    return subprocess.Popen(shell.argv, env=shell.env, cwd=shell.cwd)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def nspawn_rounds(rounds: int, restarts: int) -> tuple[list[float], list[float], list[float]]:
    calls: list[float] = []
    seen: list[float] = []
    restarted: list[float] = []
    with bench_hive(command_edits("nspawn")) as hive:
        hive.deploy("manager")
        for i in range(rounds + restarts):
            name = f"draft{i}"
            if i < rounds:
                waiter = poller(hive, name)
                time.sleep(0.2)  # the poller is spinning inside
                started = time.perf_counter()
                hive.client.draft(name)
                calls.append((time.perf_counter() - started) * 1000)
                waiter.wait(timeout=60)
                seen.append((time.perf_counter() - started) * 1000)
                continue
            # The old way: the operator restarts the manager, which then lays out /agents.
            started = time.perf_counter()
            hive.client.draft(name)
            hive.client.stop("manager")
            hive.client.start("manager")
            poller(hive, name).wait(timeout=60)
            restarted.append((time.perf_counter() - started) * 1000)
    return calls, seen, restarted


def process_rounds(rounds: int) -> list[float]:
    with bench_hive(command_edits("process")) as hive:
        hive.deploy("manager")
        return [timed(lambda i=i: hive.client.draft(f"draft{i}")) for i in range(rounds)]


def main() -> None:
    args = sizes(__doc__, {"rounds": 3, "restarts": 1}, rounds=20, restarts=5)
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn"):
        print("skipped: needs root and systemd-nspawn")
        return
    baseline = process_rounds(args.rounds)
    if args.quick:  # tests/test_nspawn_manager_view.py runs the nspawn path
        print(summary("baseline: process draft call", baseline))
        print("nspawn: skipped by --quick")
        return
    calls, seen, restarted = nspawn_rounds(args.rounds, args.restarts)
    print(f"draft -> in the running manager's /agents, {args.rounds} drafts")
    print(summary("nspawn: draft -> seen inside", seen))
    print(summary("nspawn: draft call", calls))
    print(summary("baseline: process draft call", baseline))
    print(summary("baseline: draft + restart -> seen", restarted))

    def p50(samples: list[float]) -> float:
        return sorted(samples)[len(samples) // 2]

    print(
        f"the view adds {p50(calls) - p50(baseline):.0f} ms to a draft; the draft is seen "
        f"{p50(restarted) / p50(seen):.0f}x sooner than by a restart"
    )


if __name__ == "__main__":
    main()
