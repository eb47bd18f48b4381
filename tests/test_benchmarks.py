"""Every benchmark is in `make bench` and, with --quick, in `make bench-quick`, which `make
test` runs: a benchmark that stops working fails the build instead of rotting."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target(name: str) -> list[str]:
    """The benchmark command lines of a Makefile target."""
    makefile = (ROOT / "Makefile").read_text()
    body = re.search(rf"^{re.escape(name)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert body, f"no {name} target in the Makefile"
    return [line.split("python ", 1)[1] for line in body.group(1).splitlines() if "python " in line]


def test_every_benchmark_runs_in_bench_and_quick_in_bench_quick() -> None:
    scripts = sorted(
        f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py") if p.name[0] != "_"
    )
    assert sorted(line.split()[0] for line in target("bench")) == scripts
    assert sorted(target("bench-quick")) == [f"{script} --quick" for script in scripts]
    for script in scripts:
        assert '"--quick"' in (ROOT / script).read_text(), f"{script} takes no --quick"


def test_make_test_runs_bench_quick() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and "$(MAKE) bench-quick" in recipe.group(1)
