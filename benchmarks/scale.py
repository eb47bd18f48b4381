"""A hive of N agents on one host: listing, overview, restart, idle cost, commit -> pending.

For each N (200 and 1,000 by default) a real `hivectl serve` under a soft limit of 1,024
open files gets N agents through the control API: N/5 spawned and approved, running the
scripted agent under the `process` runtime, the rest drafted. Then, with a baseline in the
same run for each figure:
- `GET /api/agents` (every agent) and the overview page `/` (its first page), against
  reading every agent's refs with the git CLI (`git rev-parse`, proposed and applied);
- commit -> pending on a running agent (hook ping and inotify), against `git log -1`;
- simulated telemetry written into hive.db (one TurnEnd per running agent every 10 minutes):
  8 days and a retention pass, then a week more a day at a time, a pass after each day;
  the file's size after 8, 9 and 15 days, against the same days and passes keeping 5-minute rollups;
- restart to ready (control socket answers `/api/agents`) and to every running agent up
  again, against the same restart with no listing saved by the last run (every repo read
  cold) and an empty hive's restart;
- the controller's idle CPU over a window and its RSS, against a bare interpreter that
  imported the controller's modules.
Prints figures; asserts nothing about time.
Run: `.venv/bin/python benchmarks/scale.py [--agents N ...] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _harness import HIVECTL, BenchHive, bench_hive, git, summary

from gitops_hive.store import Database
from gitops_hive.telemetry.retention import Retention

SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}
SOFT_OPEN_FILES = 1024  # the common default soft limit; the controller raises it itself
STAT_KEYS = 13  # rows one TurnEnd writes
WEEK = 7 * 86400.0
TURN_EVERY = 600.0  # a simulated TurnEnd per running agent every 10 minutes


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def populate(hive: BenchHive, agents: int, running: int) -> None:
    """`running` agents spawned and approved, the rest drafted, several at a time."""
    names = [f"a{i:04d}" for i in range(agents)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hive.deploy, names[:running]))
        list(pool.map(hive.client.draft, names[running:]))


def page_fetcher(hive: BenchHive, path: str) -> object:
    base = hive.layout.dashboard_url.read_text().strip()
    token = hive.layout.token.read_text().strip()
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})

    def fetch() -> None:
        with urllib.request.urlopen(request) as response:
            response.read()

    return fetch


def git_refs_baseline(hive: BenchHive) -> None:
    """Every agent's proposed and applied head read with the git CLI, one process each."""
    for name in hive.layout.existing_agents():
        agent = hive.layout.agent(name)
        subprocess.run(["git", "-C", str(agent.proposed), "rev-parse", "HEAD"], capture_output=True)
        subprocess.run(
            ["git", "--git-dir", str(agent.applied), "rev-parse", "-q", "--verify", "main"],
            capture_output=True,
        )


def commit_to_pending(hive: BenchHive, agent: str, commits: int) -> tuple[list[float], list[float]]:
    proposed = hive.layout.agent(agent).proposed
    latencies: list[float] = []
    git_log: list[float] = []
    for i in range(commits):
        latencies.append(hive.commit_until_pending(agent, f"Step {i}").latency_ms)
        git_log.append(timed(lambda: git(proposed, "log", "-1", "--format=%H")))
        time.sleep(0.2)
    return latencies, git_log


def simulate(db_path: Path, agents: list[str], start: float, days: float) -> int:
    """Raw stats rows as `days` of TurnEnds from `start` would leave them, written straight
    into hive.db (one transaction)."""
    rows = (
        (agent, start + step * TURN_EVERY, f"key{k}", float(k))
        for agent in agents
        for step in range(int(days * 86400 / TURN_EVERY))
        for k in range(STAT_KEYS)
    )
    with sqlite3.connect(db_path) as conn:
        conn.executemany("INSERT INTO stats (agent, ts, key, value) VALUES (?, ?, ?, ?)", rows)
    return len(agents) * int(days * 86400 / TURN_EVERY) * STAT_KEYS


async def retention_pass(db_path: Path, now: float, coarsen: bool = True) -> int:
    """One pass of the controller's retention (its default windows) as if at `now`; without
    `coarsen`, rollups stay 5-minute buckets until they expire (before they coarsened)."""
    db = await Database.open(db_path)
    try:
        retention = Retention(
            db,
            raw_retention=WEEK,
            rollup_retention=90 * 86400,
            width=300,
            every=3600,
            **({} if coarsen else {"coarser": ()}),
        )
        return (await retention.run_once(now)).rolled_up
    finally:
        await db.close()


def telemetry(db_path: Path, running: int, days: float) -> None:
    """`days` of telemetry and a retention pass, then a week more a day at a time, each day
    followed by a pass: the file stops growing once a day's pass frees what a day writes and
    old rollups coarsen (hourly after a day, daily after a week). The baseline: the same days
    and passes with 5-minute rollups kept until they expire (before they coarsened), on a copy
    of the same file."""
    plain = db_path.with_name("plain.db")
    db_bytes(db_path)  # checkpointed: the copy is the whole file
    shutil.copyfile(db_path, plain)
    for path, label in ((db_path, "hive.db"), (plain, "baseline: 5-minute rollups")):
        sizes = weeks(path, running, days, coarsen=path == db_path)
        for when, size in sizes.items():
            print(f"{label + ', ' + when:<44} {size / 1e6:8.1f} MB")
    plain.unlink()


def weeks(db_path: Path, running: int, days: float, coarsen: bool) -> dict[str, int]:
    """The file's size after the first `days`, a day more and a week more."""
    agents = [f"a{i:04d}" for i in range(running)]
    now = time.time()
    simulate(db_path, agents, now - days * 86400, days)
    asyncio.run(retention_pass(db_path, now, coarsen))
    sizes = {f"after {days:g} days": db_bytes(db_path)}
    for day in range(7):
        start = now + day * 86400
        simulate(db_path, agents, start, 1)
        asyncio.run(retention_pass(db_path, start + 86400, coarsen))
        if day in (0, 6):
            sizes[f"after {days + day + 1:g} days"] = db_bytes(db_path)
    return sizes


def db_bytes(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, in ns from schedstat (utime and stime count whole
    clock ticks: 10 ms, a third of the figure over a 30 s window)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bare_rss_mb() -> float:
    code = (
        "import gitops_hive.controller, pathlib; "
        "print(next(l for l in pathlib.Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmRSS:')).split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout) / 1024


def restart(hive: BenchHive, running: int) -> tuple[float, float]:
    """Stop and start `hivectl serve`: ms to /api/agents answering, ms to all running."""
    hive.stop()
    log = (hive.root / "serve.log").open("ab")
    started = time.perf_counter()
    hive.process = subprocess.Popen(
        [*HIVECTL, "--root", str(hive.root), "serve", "--listen", "127.0.0.1:0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ready = None
    while True:
        try:
            agents = hive.client.agents()
        except Exception:
            if hive.process.poll() is not None:
                tail = (hive.root / "serve.log").read_text()[-2000:]
                raise RuntimeError(f"serve exited at restart:\n{tail}") from None
            time.sleep(0.01)
            continue
        ready = ready or (time.perf_counter() - started) * 1000
        up = sum(a["runtime"]["state"] == "running" for a in agents)
        if up >= running:
            return ready, (time.perf_counter() - started) * 1000
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"only {up} of {running} agents running after 300 s")
        time.sleep(0.05)


def empty_restart_ms() -> float:
    with bench_hive() as empty:
        return restart(empty, 0)[0]


def run(agents: int, running: int, rounds: int, commits: int, idle: float, days: float) -> None:
    print(f"\n== {agents} agents, {running} running the scripted agent under process ==")
    edits = {**SCRIPTED, "agent_connections = 16": "agent_connections = 8"}
    with bench_hive(edits) as hive:
        started = time.perf_counter()
        try:
            populate(hive, agents, running)
        except Exception:
            print((hive.root / "serve.log").read_text()[-6000:])
            raise
        print(f"populated in {time.perf_counter() - started:.1f} s")
        time.sleep(2)
        listing = [timed(hive.client.agents) for _ in range(rounds)]
        overview = [timed(page_fetcher(hive, "")) for _ in range(rounds)]
        baseline = [timed(lambda: git_refs_baseline(hive)) for _ in range(max(1, rounds // 5))]
        print(summary("GET /api/agents (all agents)", listing))
        print(summary("GET / (overview)", overview))
        print(summary("baseline: git rev-parse, every repo", baseline))
        latencies, git_log = commit_to_pending(hive, "a0000", commits)
        print(summary("commit -> pending (hook + inotify)", latencies))
        print(summary("baseline: git log -1", git_log))
        hive.stop()
        telemetry(hive.root / "hive.db", running, days)
        hive.layout.listing_snapshot.unlink(missing_ok=True)  # as if never saved
        cold, _ = restart(hive, running)
        ready, all_running = restart(hive, running)
        print(f"restart -> /api/agents answers     {ready:8.1f} ms")
        print(f"restart -> {running} agents running   {all_running:8.1f} ms")
        print(f"baseline: restart, listing unsaved  {cold:8.1f} ms")
        print(f"baseline: empty hive restart        {empty_restart_ms():8.1f} ms")
        time.sleep(5)  # past the start grace and the first sampling
        assert hive.process is not None
        pid = hive.process.pid
        before = cpu_seconds(pid)
        time.sleep(idle)
        cpu = (cpu_seconds(pid) - before) / idle * 100
        print(f"controller idle CPU over {idle:g} s     {cpu:8.3f} %")
        print(f"controller RSS                      {rss_mb(pid):8.1f} MB")
        print(f"baseline: interpreter + imports RSS {bare_rss_mb():8.1f} MB")
        print(f"  median listing {statistics.median(listing):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="*", default=[200, 1000])
    parser.add_argument("--quick", action="store_true", help="40 agents, short windows")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SOFT_OPEN_FILES, hard), hard))
    if args.quick:
        run(40, 4, rounds=5, commits=5, idle=3, days=8)
        return
    for agents in args.agents:
        run(agents, agents // 5, rounds=20, commits=30, idle=30, days=8)


if __name__ == "__main__":
    main()
