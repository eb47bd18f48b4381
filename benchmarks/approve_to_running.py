"""Approve -> running: the `process` runtime against `nspawn` containers, in one run.

For each runtime, a fresh hive: each round the manager commits a prompt change, the
controller pins it, and the benchmark approves it through the control API; the figure is
the time until the new agent's harness says it is ready (it asked the socket who it is),
and the approve call's own time, which includes `runtime.start_grace` (1 s) both runtimes
wait before a start counts. The difference is the container's cost: rendering the root,
chowning state, starting systemd-nspawn and Python inside it.
nspawn needs root and systemd-nspawn; without them only the process figures print.
Run: `.venv/bin/python benchmarks/approve_to_running.py [--rounds N]`.
"""

from __future__ import annotations

import os
import shutil

import tomlkit
from _harness import bench_hive, sizes, summary


def rounds_on(kind: str, rounds: int) -> tuple[list[float], list[float], float]:
    edits = {'kind = "process"': f'kind = "{kind}"'}
    with bench_hive(edits) as hive:
        config = tomlkit.parse(hive.layout.config.read_text())
        grace = float(config["runtime"]["start_grace"])  # type: ignore[index,arg-type]
        hive.deploy("worker")
        samples: list[float] = []
        ready: list[float] = []
        for i in range(rounds):
            call, took = hive.approve_prompt_change("worker", f"Round {i}")
            samples.append(call)
            ready.append(took)
    return samples, ready, grace


def main() -> None:
    args = sizes(__doc__, {"rounds": 2}, rounds=10)  # --quick: process only
    results = {"process": rounds_on("process", args.rounds)}
    if args.quick:
        print("nspawn: skipped by --quick")
    elif os.geteuid() == 0 and shutil.which("systemd-nspawn"):
        results["nspawn"] = rounds_on("nspawn", args.rounds)
    else:
        print("nspawn: skipped (needs root and systemd-nspawn)")
    print(f"approve -> running, {args.rounds} rounds per runtime")
    medians = {}
    for kind, (samples, ready, grace) in results.items():
        print(summary(f"{kind}: approve -> harness ready", ready))
        print(summary(f"{kind}: approve call (+{grace:g}s grace)", samples))
        medians[kind] = sorted(ready)[len(ready) // 2]
    if "nspawn" in medians:
        print(
            f"a container's harness is ready {medians['nspawn'] - medians['process']:.0f} ms "
            f"later than a process's ({medians['nspawn'] / medians['process']:.1f}x)"
        )


if __name__ == "__main__":
    main()
