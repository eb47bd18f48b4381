"""Keystroke echo latency through the terminal's WebSocket, against a local pty.

A real hive (`hivectl serve`, process runtime) with one agent; the benchmark asks the
dashboard for a ticket (bearer token, CSRF token) and opens the terminal's WebSocket on
TCP, as the page does. Each round types one key and waits until the shell (bash's line
editor, the same shell as the baseline) echoes it back. The baseline, in the same run: the
same shell on a pty this process holds itself, the same keys, read the same way.
Run: `.venv/bin/python benchmarks/terminal_echo.py [--rounds N] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import string
import time
from pathlib import Path

import aiohttp
from _harness import bench_hive, sizes

from gitops_hive.runtime.shell import process_shell
from gitops_hive.runtime.terminal import PtyProcess

SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}
SHELL = ["/bin/bash", "--norc", "--noprofile", "-i"]
KEYS = string.ascii_lowercase
CLEAR_EVERY = 40  # Ctrl-U now and then, so the line stays short


async def local_echoes(rounds: int) -> list[float]:
    """The baseline: the shell on our own pty."""
    pty = await PtyProcess.spawn(process_shell(Path.cwd(), SHELL))
    samples: list[float] = []
    try:
        await _settle_local(pty)
        for i in range(rounds):
            key = KEYS[i % len(KEYS)].encode()
            started = time.perf_counter()
            await pty.write(key)
            seen = b""
            while key not in seen:
                seen += await pty.read()
            samples.append((time.perf_counter() - started) * 1000)
            if i % CLEAR_EVERY == CLEAR_EVERY - 1:
                await pty.write(b"\x15")
                await _settle_local(pty)
    finally:
        await pty.close()
    return samples


async def _settle_local(pty: PtyProcess) -> None:
    """Read whatever the shell prints until it is quiet for a moment."""
    while True:
        try:
            await asyncio.wait_for(pty.read(), 0.2)
        except TimeoutError:
            return


async def _settle(ws: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        try:
            await asyncio.wait_for(ws.receive(), 0.2)
        except TimeoutError:
            return


async def socket_echoes(base: str, token: str, rounds: int) -> list[float]:
    """The same keys through POST ticket + WebSocket, as the dashboard's page does."""
    auth = {"Authorization": f"Bearer {token}", "Origin": base.rstrip("/")}
    samples: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}api/csrf", headers=auth) as response:
            csrf = (await response.json())["csrf"]
        async with http.post(
            f"{base}api/agents/worker/terminal", json={}, headers={**auth, "X-CSRF-Token": csrf}
        ) as response:
            ticket = (await response.json())["ticket"]
        url = f"{base}api/agents/worker/terminal/ws?ticket={ticket}&cols=120&rows=40"
        async with http.ws_connect(url, headers=auth) as ws:
            await _settle(ws)
            for i in range(rounds):
                key = KEYS[i % len(KEYS)].encode()
                started = time.perf_counter()
                await ws.send_bytes(key)
                seen = b""
                while key not in seen:
                    message = await ws.receive()
                    if message.type is aiohttp.WSMsgType.BINARY:
                        seen += message.data
                samples.append((time.perf_counter() - started) * 1000)
                if i % CLEAR_EVERY == CLEAR_EVERY - 1:
                    await ws.send_bytes(b"\x15")
                    await _settle(ws)
    return samples


def summary(label: str, samples_ms: list[float]) -> str:
    """One line: count, p50, p90, p99 and max, to the microsecond (a local echo is fast)."""
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return (
        f"{label:<36} n={len(ordered):<4} p50={pct(50):7.3f} ms  p90={pct(90):7.3f} ms  "
        f"p99={pct(99):7.3f} ms  max={ordered[-1]:7.3f} ms"
    )


async def run(args: argparse.Namespace) -> None:
    shell = '["/bin/bash", "-l"]'
    edits = {**SCRIPTED, shell: str(SHELL).replace("'", '"')}
    with bench_hive(edits) as hive:
        hive.deploy("worker")
        base = hive.layout.dashboard_url.read_text().strip()
        token = hive.layout.token.read_text().strip()
        through = await socket_echoes(base, token, args.rounds)
    local = await local_echoes(args.rounds)
    print(f"keystroke -> echo, {args.rounds} keys, bash's line editor, {os.cpu_count()} cpus")
    print(summary("terminal WebSocket (TCP, loopback)", through))
    print(summary("baseline: local pty", local))
    extra = sorted(through)[len(through) // 2] - sorted(local)[len(local) // 2]
    print(f"median cost of the WebSocket path: {extra:.3f} ms per key")


def main() -> None:
    args = sizes(__doc__, {"rounds": 50}, rounds=500)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
