"""Push -> draft visible in `hivectl agents --json`, against a plain `git push` to a bare repo.

Each round commits a change in the operator's clone and pushes it to hive.git as a new
branch; the figure runs from the start of `git push` until `hivectl agents --json` lists the
new draft (the push is synchronous: when it returns, the draft exists, so one listing
suffices, and the benchmark fails if it does not). The baseline pushes the same commits to a
bare repo without hooks, in the same run: what git alone costs; a listing on its own shows
what `hivectl` itself costs to start. Run:
`.venv/bin/python benchmarks/push_to_draft.py [--quick] [--pushes N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

from _harness import HIVECTL, MANAGER_ENV, bench_hive, git, summary

TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "repos" / "worker" / "01-initial"


def timed_push(work: Path, target: Path, ref: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", str(target), f"HEAD:{ref}"],
        check=True,
        capture_output=True,
        env=MANAGER_ENV,
    )
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 pushes")
    parser.add_argument("--pushes", type=int, default=None)
    args = parser.parse_args()
    pushes = args.pushes or (8 if args.quick else 40)
    with bench_hive() as hive:
        work = hive.root.parent / "work"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        for source in TEMPLATE.iterdir():
            (work / source.name).write_bytes(source.read_bytes())
        plain = hive.root.parent / "plain.git"
        git(hive.root.parent, "init", "-q", "--bare", str(plain))
        push_ms: list[float] = []
        visible_ms: list[float] = []
        baseline_ms: list[float] = []
        listing_ms: list[float] = []
        for i in range(pushes):
            with (work / "prompt.md").open("a") as handle:
                handle.write(f"\nRound {i}: a line the operator added.\n")
            git(work, "add", "-A")
            git(work, "commit", "-qm", f"round {i}")
            name = f"b{i}"
            started = timed_push(work, plain, f"refs/heads/{name}")
            baseline_ms.append((time.perf_counter() - started) * 1000)
            started = timed_push(work, hive.layout.hive_git, f"refs/heads/{name}")
            push_ms.append((time.perf_counter() - started) * 1000)
            listed = subprocess.run(
                [*HIVECTL, "--root", str(hive.root), "agents", "--json"],
                check=True,
                capture_output=True,
                text=True,
            )
            visible_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            subprocess.run(
                [*HIVECTL, "--root", str(hive.root), "agents", "--json"],
                check=True,
                capture_output=True,
            )
            listing_ms.append((time.perf_counter() - started) * 1000)
            drafts = {a["name"]: a["status"] for a in json.loads(listed.stdout)}
            if drafts.get(name) != "draft":
                raise SystemExit(f"{name} is not listed as a draft after its push: {drafts}")
        handled = re.findall(r"pushed [0-9a-f]{40} to \S+ \((\d+) ms\)", hive.log_text())
    print(f"push -> draft, {pushes} pushes of a new branch by the git CLI")
    print(summary("gitops-hive: push -> agents --json", visible_ms))
    print(summary("  the push alone (draft made)", push_ms))
    print(summary("baseline: plain push, bare repo", baseline_ms))
    print(summary("  the controller's part (its log)", [float(ms) for ms in handled]))
    print(summary("reference: agents --json alone", listing_ms))
    print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
