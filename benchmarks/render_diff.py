"""Server-side render time and page weight of a 5,000-changed-line approval page.

A real hive, a draft whose commit adds five Python files of 1,000 lines each (5,000 changed
lines), submitted and pinned. The page /approvals/ID is fetched over loopback with the
operator token N times, unified and side by side; the baseline in the same run is the same
diff as a plain patch from /api/approvals/ID/diff?format=patch, so the ratio is what
highlighting and the page cost. The first fetch highlights; pinned commits never change, so
later fetches reuse the highlighted rows.
Run: `.venv/bin/python benchmarks/render_diff.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import subprocess
import time

import aiohttp
from _harness import MANAGER_ENV, bench_hive, summary

SCRIPTED = {'"gitops_hive.harness"]': '"gitops_hive.scripted_agent"]'}
FILES = 5
LINES = 1000


def python_source(index: int) -> str:
    """Plausible code, so the highlighter does real work."""
    out = [f'"""Module {index} of the benchmark."""', "", "import math", ""]
    n = 0
    while len(out) < LINES:
        out += [
            f"def step_{index}_{n}(value: float, scale: int = {n}) -> float:",
            f'    """Scale `value` by {n} and keep it finite."""',
            "    if not math.isfinite(value):",
            f'        raise ValueError("step {n}: value must be finite")',
            "    return value * scale + 0.5  # rounding bias",
            "",
        ]
        n += 1
    return "\n".join(out[:LINES]) + "\n"


async def timed(session: aiohttp.ClientSession, url: str, rounds: int) -> tuple[list[float], bytes]:
    samples, body = [], b""
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.get(url) as response:
            body = await response.read()
            assert response.status == 200, (url, response.status)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, body


async def measure(base: str, token: str, approval: int, rounds: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        cold, _ = await timed(session, f"{base}approvals/{approval}", 1)
        unified, page = await timed(session, f"{base}approvals/{approval}", rounds)
        split, split_page = await timed(session, f"{base}approvals/{approval}?view=split", rounds)
        patch_ms, patch = await timed(
            session, f"{base}api/approvals/{approval}/diff?format=patch", rounds
        )
    print(f"approval page of {FILES * LINES} changed lines in {FILES} files, {rounds} fetches")
    print(f"{'first fetch (highlighting it)':<34} {cold[0]:8.1f} ms")
    print(summary("page, unified (rows cached)", unified))
    print(summary("page, side by side (rows cached)", split))
    print(summary("baseline: plain patch", patch_ms))
    baseline = sorted(patch_ms)[len(patch_ms) // 2]
    print(
        f"first fetch vs plain patch: {cold[0] / baseline:.1f}x the time; "
        f"later fetches: {sorted(unified)[len(unified) // 2] / baseline:.1f}x"
    )
    for label, body in (("unified", page), ("side by side", split_page), ("patch", patch)):
        print(
            f"weight, {label:<13} {len(body) / 1024:8.0f} KiB, "
            f"{len(gzip.compress(body)) / 1024:6.0f} KiB gzipped"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with bench_hive(SCRIPTED) as hive:
        hive.client.post("/api/agents", {"name": "worker"})
        repo = hive.layout.agent("worker").proposed
        for i in range(FILES):
            (repo / f"module_{i}.py").write_text(python_source(i))
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=MANAGER_ENV)
        subprocess.run(
            ["git", "-C", str(repo), "commit", "-qm", "Five modules"], check=True, env=MANAGER_ENV
        )
        approval = hive.client.post("/api/agents/worker/submit", {})
        base = hive.layout.dashboard_url.read_text().strip()
        token = hive.layout.token.read_text().strip()
        asyncio.run(measure(base, token, int(approval["id"]), args.rounds))


if __name__ == "__main__":
    main()
