"""A hostile proposed/ against a real `hivectl serve`: memory and the dashboard's latency.

1. Peak RSS (VmHWM) of the controller when the worker commits a blob of zeros (1 GiB; 256
   MiB with --quick) that compresses to a few KB, as a loose object and as the delta base of
   a ten-byte file in a pack. Baseline, in the same run: what reading the blob cost before
   (libgit2 opened on proposed/ and the blob read whole, as copy_commit did), in a child.
2. GET /api/agents (on the control socket) with every agent's repo clean, then with one
   agent's refs/heads/main a FIFO and its objects/pack a symlink to a host folder.

Run: `.venv/bin/python benchmarks/hostile_repo.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _harness import BenchHive, bench_hive, git, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.hostile_objects import commit_blob, write_loose_zeros, write_zeros_pack

MIB = 1 << 20
SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}

# What e3ac56c did with such a commit: libgit2 opened on proposed/, each object read whole.
NAIVE_READ = """
import json, resource, sys
import pygit2
repo = pygit2.Repository(sys.argv[1])
commit = repo.revparse_single("refs/heads/main")
for entry in commit.tree:
    repo[entry.id].data
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
"""


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def agent_status(hive: BenchHive, name: str) -> dict[str, object]:
    return next(a for a in hive.client.agents() if a["name"] == name)


def wait_unreadable(hive: BenchHive, name: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = agent_status(hive, name)
        if found["status"] == "unreadable":
            return found
        time.sleep(0.05)
    raise RuntimeError(f"{name} never showed unreadable")


def latencies(hive: BenchHive, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        hive.client.agents()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def naive_peak(git_dir: Path) -> int:
    child = subprocess.run(
        [sys.executable, "-c", NAIVE_READ, str(git_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(child.stdout))


def run(args: argparse.Namespace) -> None:
    size = (256 if args.quick else 1024) * MIB
    agents = 5 if args.quick else 20
    rounds = 30 if args.quick else 300
    with bench_hive(SCRIPTED) as hive:
        assert hive.process is not None
        names = ["manager", "big", "packed", "hostile"] + [f"clean{n}" for n in range(agents)]
        for name in names:
            hive.client.spawn(name)
        idle = peak_rss(hive.process.pid)

        clean = latencies(hive, rounds)
        hostile = hive.layout.agent("hostile").proposed_git
        (hostile / "refs" / "heads" / "main").unlink()
        os.mkfifo(hostile / "refs" / "heads" / "main")
        pack = hostile / "objects" / "pack"
        pack.rename(hostile / "objects" / "pack-away")
        pack.symlink_to(Path(sys.prefix))  # a host folder
        wait_unreadable(hive, "hostile")
        one_hostile = latencies(hive, rounds)

        work = hive.layout.agent("big").proposed
        commit_blob(work, "zeros.bin", write_loose_zeros(work / ".git", size))
        big = wait_unreadable(hive, "big")
        packed = hive.layout.agent("packed").proposed
        _, small = write_zeros_pack(packed / ".git", size)
        commit_blob(packed, "small.bin", small)
        packed_status = wait_unreadable(hive, "packed")
        controller = peak_rss(hive.process.pid)
        baseline = naive_peak(work / ".git") if not args.skip_baseline else 0
        baseline_delta = naive_peak(packed / ".git") if not args.skip_baseline else 0
        notices = [
            m for m in hive.client.inbox("manager")["messages"] if m["kind"] == "agent_unreadable"
        ]
        git(work, "log", "-1", "--format=%h")  # the manager's git still reads its own repo

    print(f"a blob of {size // MIB} MiB zeros ({len(names)} agents, one hostile, 2 oversized)")
    print(f"  big:    {big['reason']}")
    print(f"  packed: {packed_status['reason']}")
    print(f"  agent_unreadable notices to the manager: {len(notices)} (one per agent)")
    print(f"controller peak RSS, idle after spawning:  {idle / MIB:8.0f} MB")
    print(f"controller peak RSS, after both blobs:     {controller / MIB:8.0f} MB")
    if baseline:
        print(f"baseline: libgit2 reads the loose blob:   {baseline / MIB:8.0f} MB")
        print(f"baseline: libgit2 reads the 10-byte delta: {baseline_delta / MIB:7.0f} MB")
    print(f"GET /api/agents on the control socket, {rounds} requests each")
    print(summary("all repos clean", clean))
    print(summary("one FIFO main + symlinked pack", one_hostile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, 5 agents, 30 requests")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="do not inflate the blob for the baseline"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
