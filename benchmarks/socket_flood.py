"""/api/health and another agent's recv wake-up while one agent floods its own socket with
half-open connections, against the same figures with no flood, in the same run.

Three drafts of a real hive (no agent runs; the benchmark holds their sockets): `flooder`
is the attacker, a separate process that opens --connections connections to its socket,
--rate a second, never sends a byte and holds every one of them; `worker` parks in
recv(180) and `manager` sends to it. Each round asks `/api/health` on the control socket
and on the dashboard (a new connection each, as hivectl and a browser would) and times one
wake-up: --rounds rounds without the flood, then as many as fit while it opens and for
--hold seconds after; a call unanswered in 2 s is counted as such.
Run: `.venv/bin/python benchmarks/socket_flood.py [--quick] [--open-files 1024]`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import BenchHive, bench_hive, summary

from gitops_hive.agent.client import AgentClient, HiveCallError

ANSWER_WITHIN = 2.0  # seconds; a call that takes longer counts as unanswered


def flood(
    path: str, count: int, rate: float, stop: multiprocessing.synchronize.Event, opened: Any
) -> None:
    """The attacker: connect `count` times, `rate` a second, hold them all, never send."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    held: list[socket.socket] = []
    started = time.monotonic()
    while len(held) < count and not stop.is_set():
        ahead = len(held) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except (BlockingIOError, ConnectionRefusedError):  # the backlog is full: again
            sock.close()
            continue
        held.append(sock)
        opened.value = len(held)
    stop.wait()
    for sock in held:
        sock.close()


async def health(address: Path | tuple[str, int], auth: str = "") -> float:
    """Milliseconds for GET /api/health on a new connection, to the last byte."""
    started = time.perf_counter()
    if isinstance(address, Path):
        reader, writer = await asyncio.open_unix_connection(str(address))
        host = "hive"
    else:
        reader, writer = await asyncio.open_connection(*address)
        host = f"{address[0]}:{address[1]}"
    writer.write(
        f"GET /api/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}\r\n".encode()
    )
    answer = await reader.read()
    writer.close()
    elapsed = (time.perf_counter() - started) * 1000
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"/api/health answered {answer[:80]!r}")
    return elapsed


async def wake_up(worker: AgentClient, manager: AgentClient, body: str) -> float:
    """Milliseconds from the manager's send to the worker's parked recv returning it."""
    parked = asyncio.create_task(worker.recv(180))
    try:
        await asyncio.sleep(0.005)  # let it park
        started = time.perf_counter()
        await manager.send("worker", body)
        got = await parked
    finally:
        parked.cancel()
    if [m["body"] for m in got["messages"]] != [body]:
        raise RuntimeError(f"recv returned {got}")
    return (time.perf_counter() - started) * 1000


async def timed(call: Awaitable[float]) -> float:
    """The figure, or infinity if it took over ANSWER_WITHIN or failed."""
    try:
        return await asyncio.wait_for(call, ANSWER_WITHIN)
    except (TimeoutError, OSError, HiveCallError):
        return math.inf


async def rounds(
    hive: BenchHive,
    worker: AgentClient,
    manager: AgentClient,
    tag: str,
    count: int,
    while_: Callable[[], bool] = lambda: True,
) -> dict[str, list[float]]:
    url = hive.layout.dashboard_url.read_text().strip().removeprefix("http://").rstrip("/")
    host, port = url.rsplit(":", 1)
    auth = f"Authorization: Bearer {hive.layout.token.read_text().strip()}\r\n"
    figures: dict[str, list[float]] = {"control": [], "dashboard": [], "wake": []}
    for i in range(count):
        if not while_():
            break
        figures["control"].append(await timed(health(hive.layout.control_socket)))
        figures["dashboard"].append(await timed(health((host, int(port)), auth)))
        figures["wake"].append(await timed(wake_up(worker, manager, f"{tag} {i}")))
    return figures


def line(label: str, samples: list[float]) -> str:
    """summary() of what was answered, and how many were not."""
    answered = [s for s in samples if s != math.inf]
    lost = len(samples) - len(answered)
    if not answered:
        return f"{label:<34} n={len(samples):<4} none answered within {ANSWER_WITHIN:g} s"
    text = summary(label, answered)
    return text + (
        f"  ({lost} of {len(samples)} unanswered in {ANSWER_WITHIN:g} s)" if lost else ""
    )


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def run(args: argparse.Namespace) -> None:
    with bench_hive(open_files=args.open_files) as hive:
        for name in ("manager", "worker", "flooder"):
            hive.client.draft(name)
        assert hive.process is not None
        pid = hive.process.pid
        log = hive.root / "serve.log"
        async with (
            AgentClient(hive.layout.agent("worker").socket) as worker,
            AgentClient(hive.layout.agent("manager").socket) as manager,
        ):
            quiet = await rounds(hive, worker, manager, "quiet", args.rounds)
            files_quiet = open_files(pid)
            log_before = log.stat().st_size
            context = multiprocessing.get_context("fork")
            stop = context.Event()
            opened = context.Value("q", 0)
            path = str(hive.layout.agent("flooder").socket)
            attacker = context.Process(
                target=flood, args=(path, args.connections, args.rate, stop, opened)
            )
            attacker.start()
            started = time.monotonic()
            await asyncio.sleep(0.2)  # the flood is on
            # Rounds while the flood opens its connections, and then while it holds them.
            deadline = started + args.connections / args.rate + args.hold
            flooded = await rounds(
                hive,
                worker,
                manager,
                "flooded",
                100 * args.rounds,
                lambda: time.monotonic() < deadline,
            )
            flood_seconds = time.monotonic() - started
            files_flooded = open_files(pid)
            stop.set()
            attacker.join(timeout=30)
            log_grown = log.stat().st_size - log_before
    print(
        f"the flood: {opened.value} of {args.connections} connections to one agent's socket "
        f"at up to {args.rate:g}/s, held open, never a byte sent; measured for "
        f"{flood_seconds:.1f} s"
    )
    print(line("/api/health, control socket", flooded["control"]))
    print(line("  baseline: no flood", quiet["control"]))
    print(line("/api/health, dashboard", flooded["dashboard"]))
    print(line("  baseline: no flood", quiet["dashboard"]))
    print(line("another agent's recv wake-up", flooded["wake"]))
    print(line("  baseline: no flood", quiet["wake"]))
    print(
        f"controller open files: {files_quiet} quiet, {files_flooded} flooded; log grew "
        f"{log_grown} bytes during the flood"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="rounds without the flood")
    parser.add_argument("--connections", type=int, default=6000, help="the flood's size")
    parser.add_argument("--rate", type=float, default=1000.0, help="connections a second")
    parser.add_argument(
        "--hold", type=float, default=5.0, help="seconds measured after the flood is open"
    )
    parser.add_argument(
        "--open-files",
        type=int,
        help="run the controller under this hard limit (ulimit -n), to compare with a "
        "controller that runs out of files",
    )
    parser.add_argument("--quick", action="store_true", help="50 rounds, 1,500 connections")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.connections, args.hold = 50, min(args.connections, 1500), 2.0
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
