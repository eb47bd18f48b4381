"""send -> recv wake-up latency over the agents' sockets, against a fixed-sleep polling loop.

Two agents of a real hive: the benchmark holds the worker's socket and parks in
recv(180); the manager's socket sends. The figure is the time from the send call to the
parked recv returning with that message. The baseline, in the same run, is the loop the
broker replaces: recv(0) then sleep a fixed interval, until the message shows up. Then
throughput: messages sent one by one (each a durable sqlite transaction, WAL and
synchronous=FULL) and taken in batches. Agents run the scripted agent, which leaves the
inboxes to the benchmark. Run: `.venv/bin/python benchmarks/recv_wakeup.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from _harness import bench_hive, sizes, summary

from gitops_hive.agent.client import AgentClient

SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}


async def wakeups(worker: AgentClient, manager: AgentClient, rounds: int) -> list[float]:
    samples = []
    for i in range(rounds):
        parked = asyncio.create_task(worker.recv(180))
        await asyncio.sleep(0.01 + random.random() * 0.02)  # let it park
        started = time.perf_counter()
        await manager.send("worker", f"wake {i}")
        got = await parked
        samples.append((time.perf_counter() - started) * 1000)
        assert [m["body"] for m in got["messages"]] == [f"wake {i}"], got
    return samples


async def polled(
    worker: AgentClient, manager: AgentClient, rounds: int, every: float
) -> list[float]:
    """A poller running on its own clock, as an agent's sleep loop would; sends at random."""
    seen: dict[str, float] = {}

    async def poll_loop() -> None:
        while True:  # the fixed-sleep loop that is the baseline
            for message in (await worker.recv(0))["messages"]:
                seen[message["body"]] = time.perf_counter()
            await asyncio.sleep(every)

    poller = asyncio.create_task(poll_loop())
    sent: dict[str, float] = {}
    for i in range(rounds):
        await asyncio.sleep(every * (0.5 + random.random()))
        sent[f"poll {i}"] = time.perf_counter()
        await manager.send("worker", f"poll {i}")
    await asyncio.sleep(every * 1.5)
    poller.cancel()
    return [(seen[body] - at) * 1000 for body, at in sent.items() if body in seen]


async def throughput(worker: AgentClient, manager: AgentClient, count: int) -> tuple[float, float]:
    started = time.perf_counter()
    for i in range(count):
        await manager.send("worker", f"bulk {i}")
    sent = count / (time.perf_counter() - started)
    started = time.perf_counter()
    taken = 0
    while taken < count:
        taken += len((await worker.recv(0))["messages"])
    return sent, count / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    with bench_hive(SCRIPTED) as hive:
        hive.deploy("manager")
        hive.deploy("worker")
        async with (
            AgentClient(hive.layout.agent("worker").socket) as worker,
            AgentClient(hive.layout.agent("manager").socket) as manager,
        ):
            while (await worker.recv(0))["messages"]:
                pass
            while (await manager.recv(0))["messages"]:
                pass  # the deploy notices
            woken = await wakeups(worker, manager, args.rounds)
            poll = await polled(worker, manager, args.poll_rounds, args.poll_interval)
            sent, taken = await throughput(worker, manager, args.bulk)
    print(f"send -> parked recv returns, {args.rounds} messages over unix sockets")
    print(summary("broker wake-up", woken))
    print(summary(f"baseline: recv(0) + sleep {args.poll_interval:g}s", poll))
    ratio = sorted(poll)[len(poll) // 2] / sorted(woken)[len(woken) // 2]
    print(f"median speed-up over the polling loop: {ratio:.0f}x")
    print(
        f"throughput, {args.bulk} messages: {sent:.0f} sends/s (each durable), "
        f"{taken:.0f} messages/s taken by recv"
    )


def main() -> None:
    quick = {"rounds": 20, "poll_rounds": 2, "bulk": 100}
    args = sizes(__doc__, quick, rounds=200, poll_rounds=20, poll_interval=1.0, bulk=1000)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
