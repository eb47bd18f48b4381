"""Agent images under nspawn: a package layer built uncached and from the cache, and approve ->
running with it, against the base alone measured in the same run.

The Debian base comes from the shared cache (`scripts/agent_image.py` builds it once; it is
linked into a throwaway cache here), so "uncached" is what a new package set costs: apt
installing jq from the mirror apt uses into an overlay. "Cached" is the same set again: a
folder lookup. Then a fresh nspawn hive deploys prompt changes with `packages = []` (the
base alone, the baseline) and with `packages = ["jq"]` (its layer cached), and the figure is
approve -> the new container's harness ready. Needs root, debootstrap and systemd-nspawn.
Run: `.venv/bin/python benchmarks/image_build.py [--rounds N] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _harness import bench_hive, summary

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from agent_image import CACHE, test_cache  # noqa: E402

from gitops_hive.runtime.images import ImageCache  # noqa: E402

PACKAGE = "jq"


def layer_times(rounds: int) -> tuple[float, list[float]]:
    """Seconds to build the jq layer uncached, then milliseconds per cached lookup."""
    shared = test_cache()
    base = shared.base_path(shared.base_packages())
    with tempfile.TemporaryDirectory(prefix="hive-images-") as tmp:
        folder = Path(tmp)
        (folder / base.name).symlink_to(base)
        for remembered in CACHE.glob("python-libs-*.json"):
            shutil.copy(remembered, folder / remembered.name)
        cache = ImageCache(folder, shared.mirror, shared.suite)
        started = time.perf_counter()
        image = asyncio.run(cache.ensure([PACKAGE], lambda line: None))
        uncached = time.perf_counter() - started
        assert not image.cached and image.layer is not None
        cached = []
        for _ in range(rounds):
            started = time.perf_counter()
            again = asyncio.run(cache.ensure([PACKAGE], lambda line: None))
            cached.append((time.perf_counter() - started) * 1000)
            assert again.cached and again.layer == image.layer
    return uncached, cached


def approve_rounds(packages: str, rounds: int) -> tuple[list[float], list[float]]:
    """approve -> harness ready, and the approve call (which waits out runtime.start_grace),
    in ms, for prompt changes with this agent.toml packages line."""
    edits = {'kind = "process"': 'kind = "nspawn"', 'image_cache = ""': f'image_cache = "{CACHE}"'}
    with bench_hive(edits) as hive:
        hive.deploy("worker")
        proposed = hive.layout.agent("worker").proposed
        spec = proposed / "agent.toml"
        spec.write_text(spec.read_text().replace("packages = []", f"packages = {packages}"))
        ready: list[float] = []
        calls: list[float] = []
        for i in range(rounds + 1):  # the first round builds (or finds) the layer: not counted
            call, took = hive.approve_prompt_change("worker", f"Round {i}", timeout=300)
            if i:
                ready.append(took)
                calls.append(call)
    return ready, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the layer only (make test)")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    if os.geteuid() != 0 or not (shutil.which("debootstrap") and shutil.which("systemd-nspawn")):
        print("image_build: skipped (needs root, debootstrap and systemd-nspawn)")
        return
    asyncio.run(test_cache().ensure([], lambda line: print(f"  {line}")))  # the shared base
    uncached, cached = layer_times(rounds)
    print(f"layer [{PACKAGE}] uncached (apt from the mirror): {uncached * 1000:.0f} ms")
    print(summary(f"layer [{PACKAGE}] cached (lookup)", cached))
    if args.quick:  # the layer alone: tests/test_images.py starts containers on it
        print("approve -> running on the image: skipped by --quick")
        return
    baseline, baseline_calls = approve_rounds("[]", rounds)
    layered, layered_calls = approve_rounds(f'["{PACKAGE}"]', rounds)
    print(summary("approve -> harness ready, base alone (baseline)", baseline))
    print(summary(f"approve -> harness ready, [{PACKAGE}] layer cached", layered))
    print(summary("approve call (+1 s start grace), base alone", baseline_calls))
    print(summary(f"approve call (+1 s start grace), [{PACKAGE}] cached", layered_calls))
    median = sorted(layered)[len(layered) // 2]
    print(f"cached rebuild: {median:.0f} ms median (goal: under 2000 ms)")


if __name__ == "__main__":
    main()
