"""Crash loops: the crash limit keeps an agent down; a new deploy that loops is rolled back."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServedHive, make_root, need_nspawn, serving
from tests.repo_factory import commit_step, git

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["process", "nspawn"])
def strict(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedHive]:
    """Three crashes in a minute: down for good; three in the first minute: rolled back."""
    if request.param == "nspawn":
        need_nspawn()
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    text = config.read_text().replace("crash_limit = 5", "crash_limit = 3")
    text = text.replace('kind = "process"', f'kind = "{request.param}"')
    pool = 65536 * random.randrange(64, 30_000)  # a uid pool of its own under nspawn
    text = text.replace("uid_pool_start = 1048576", f"uid_pool_start = {pool}")
    config.write_text(text)
    with serving(root) as hive:
        yield hive


def notices(hive: ServedHive, kind: str) -> list[dict[str, Any]]:
    return [m for m in hive.json("recv", "manager")["messages"] if m["kind"] == kind]


def test_a_crash_loop_stays_down_until_started(strict: ServedHive) -> None:
    strict.deploy("manager")
    assert strict.cli("draft", "worker").returncode == 0
    commit_step(strict.proposed("worker"), "worker", "05-crash-loop")
    assert strict.cli("submit", "worker").returncode == 0
    pending = strict.pending_for("worker")
    assert pending is not None
    assert strict.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0

    gave_up = strict.wait_for(
        lambda: [n for n in notices(strict, "agent_crashed") if n["data"]["gave_up"]],
        timeout=30,
        what="the crash limit",
    )
    assert gave_up[0]["data"]["crashes_recent"] == 3
    assert "hivectl start" in gave_up[0]["body"]
    agent = next(a for a in strict.json("agents") if a["name"] == "worker")
    assert agent["status"] == "crashed" and agent["runtime"]["pid"] is None
    restarts = agent["runtime"]["restarts"]
    assert strict.cli("agents").returncode == 0
    assert (
        next(a for a in strict.json("agents") if a["name"] == "worker")["runtime"]["restarts"]
        == restarts
    )  # nothing restarts it on its own
    assert strict.cli("start", "worker").returncode == 0
    assert next(a for a in strict.json("agents") if a["name"] == "worker")["status"] == "running"


def test_a_deploy_that_crash_loops_is_rolled_back(strict: ServedHive) -> None:
    strict.deploy("manager")
    good = strict.deploy("worker")["head"]
    bad = commit_step(strict.proposed("worker"), "worker", "05-crash-loop")
    pending = strict.wait_for(lambda: strict.pending_for("worker"), what="the commit pinned")
    assert strict.cli("approve", str(pending["id"]), "--sha", bad).returncode == 0  # it starts

    rolled = strict.wait_for(lambda: notices(strict, "auto_rollback"), timeout=30, what="it")
    data = rolled[0]["data"]
    assert (data["from"], data["to"], data["status"]) == (bad, good, "deployed")
    history = strict.json("history", "worker")
    assert (history[0]["kind"], history[0]["decided_by"]) == ("rollback", "hive (health gate)")
    agent = next(a for a in strict.json("agents") if a["name"] == "worker")
    applied = strict.layout.agent("worker").applied
    assert git(applied, "rev-parse", f"{agent['deployed']}^{{tree}}") == git(
        applied, "rev-parse", f"{good}^{{tree}}"
    )
    assert agent["auto_submit"] is False
    strict.wait_for(
        lambda: (
            next(a for a in strict.json("agents") if a["name"] == "worker")["status"] == "running"
        ),
        what="the previous commit running again",
    )
