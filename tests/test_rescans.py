"""A rescan the watcher or a hook's ping asks for (`moved_only`) reads proposed/ once and goes
no further when its ref files are as the last finished rescan left them; one asked for by
the hive itself always goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_hive.approvals import rescan as rescans
from gitops_hive.layout import HiveLayout
from tests.conftest import make_root, started_hive
from tests.repo_factory import git


async def test_a_ping_for_refs_that_did_not_move_goes_no_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = HiveLayout(make_root(tmp_path / "hive"))
    hive = await started_hive(layout)
    try:
        first = await hive.spawn("worker")
        looked: list[str] = []
        real = rescans._submit_if_due

        async def counted(*args: Any) -> Any:
            looked.append(args[1])
            return await real(*args)

        monkeypatch.setattr(rescans, "_submit_if_due", counted)
        assert await hive.rescan("worker", moved_only=True) is None  # pending already
        assert await hive.rescan("worker", moved_only=True) is None
        assert looked == ["worker"]  # the second saw the same ref files

        proposed = layout.agent("worker").proposed
        with (proposed / "prompt.md").open("a") as handle:
            handle.write("One more line.\n")
        git(proposed, "commit", "-qam", "more")
        moved = await hive.rescan("worker", moved_only=True)
        assert moved is not None and moved.head == git(proposed, "rev-parse", "HEAD")
        assert moved.id != first.id and looked == ["worker", "worker"]

        git(proposed, "notes", "--ref=hive/model", "add", "-m", "model = haiku")
        await hive.rescan("worker", moved_only=True)  # the notes ref moved: looked at
        assert looked == ["worker"] * 3

        await hive.rescan("worker")  # the hive's own (a resume, the start): always
        assert looked == ["worker"] * 4
    finally:
        await hive.close()
