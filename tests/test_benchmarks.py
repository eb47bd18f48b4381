"""Every benchmark is in `make bench` and, with --quick, in `make bench-quick`, which `make
test` runs: a benchmark that stops working fails the build instead of rotting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def planned(target: str) -> list[str]:
    """The benchmark command lines `make -n TARGET` would run, as make itself plans them."""
    dry = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, check=True
    )
    return [
        line.split("python ", 1)[1] for line in dry.stdout.splitlines() if " benchmarks/" in line
    ]


def test_every_benchmark_runs_in_bench_and_quick_in_bench_quick() -> None:
    scripts = sorted(
        f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py") if p.name[0] != "_"
    )
    assert scripts and planned("bench") == scripts
    assert planned("bench-quick") == [f"{script} --quick" for script in scripts]
    for script in scripts:  # each says so itself
        shown = subprocess.run(
            [sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True
        )
        assert shown.returncode == 0 and "--quick" in shown.stdout, f"{script}: {shown.stderr}"


def test_make_test_runs_bench_quick() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and re.search(r"\$\(MAKE\) .*bench-quick$", recipe.group(1), re.MULTILINE)
