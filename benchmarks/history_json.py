"""What `model_change` costs `hivectl history --json` (GET /api/agents/NAME/history).

An in-process hive (the real Hive on a temp root, the scripted agent under the process
runtime) deploys `worker`, then the manager's git commits 200 proposals to its proposed/
(each submitted, superseding the one before), every tenth with a model note. Then, over 20
rounds each:
- the history as `history --json` answers it: every approval with what it does to the model
  (a first-parent walk of the notes per approval);
- the baseline in the same run: the same list without `model_change`, as the agent page's
  proposals table reads it.
Prints figures; asserts nothing about time.
Run: `.venv/bin/python benchmarks/history_json.py [--proposals N] [--rounds N]`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _harness import HIVECTL, git, sizes, summary

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout

SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}


async def measure(root: Path, proposals: int, rounds: int) -> None:
    layout = HiveLayout(root)
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    try:
        await hive.start()
        spawn = await hive.spawn("worker")
        await hive.approve(spawn.id, spawn.head, "bench", wait=True)
        repo = layout.agent("worker").proposed
        for i in range(proposals):
            (repo / "notes.txt").write_text(f"change {i}\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", f"change {i}")
            if i % 10 == 0:
                note = f'model = "opus"\nset_by = "manager"\nreason = "round {i}"\n'
                git(repo, "notes", "--ref=refs/notes/hive/model", "add", "-f", "-m", note)
            await hive.submit("worker", None, source="bench")
        listed = len(await hive.history("worker"))
        with_model, without = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            await hive.history("worker")
            with_model.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await hive.history("worker", with_model=False)
            without.append((time.perf_counter() - started) * 1000)
    finally:
        await hive.close()
    print(f"history of {listed} approvals, {rounds} rounds each")
    print(summary("history --json (model_change)", with_model))
    print(summary("baseline: without model_change", without))
    ratio = sorted(with_model)[len(with_model) // 2] / sorted(without)[len(without) // 2]
    print(f"model_change costs {ratio:.1f}x the plain list at the median")


def main() -> None:
    args = sizes(__doc__, {"proposals": 10, "rounds": 3}, proposals=200, rounds=20)
    with tempfile.TemporaryDirectory(prefix="hive-bench-") as tmp:
        os.environ["HOME"] = str(Path(tmp) / "home")
        root = Path(tmp) / "hive"
        subprocess.run([*HIVECTL, "--root", str(root), "init"], check=True, capture_output=True)
        config = root / "hive.toml"
        text = config.read_text()
        for old, new in SCRIPTED.items():
            text = text.replace(old, new)
        config.write_text(text)
        asyncio.run(measure(root, args.proposals, args.rounds))


if __name__ == "__main__":
    main()
