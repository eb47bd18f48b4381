"""`[container] binds` in real systemd-nspawn containers: what the agent writes there outlives
a rebuild, a dropped bind keeps its host folder, and a link planted where a bind's host folder
goes fails the deploy with one line while the running agent and the host stay untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServedHive
from tests.test_nspawn import base_of, log_of, probe_hive, propose_container

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]

# The agent inside: say what its binds hold (each line tagged with its commit), write there,
# plant a link to its own /etc in one, then stay up.
PROBE = r"""
echo "$HIVE_COMMIT found: $(cat /data/kept 2>/dev/null || echo nothing)"
echo "$HIVE_COMMIT cache: $(cat /var/cache/tool/kept 2>/dev/null || echo nothing)"
echo "kept across deploys" > /data/kept 2>/dev/null && echo "$HIVE_COMMIT wrote /data"
echo "cached" > /var/cache/tool/kept 2>/dev/null
ln -sfn /etc /data/escape 2>/dev/null
echo "$HIVE_COMMIT probe ready"
exec sleep 100000
"""


@pytest.fixture
def binds_hive(tmp_path: Path) -> Iterator[ServedHive]:
    with probe_hive(tmp_path, PROBE) as hive:
        yield hive


def approve(hive: ServedHive, pending: dict[str, Any]) -> Any:
    return hive.cli("approve", str(pending["id"]), "--sha", pending["head"], timeout=90)


def started(hive: ServedHive, sha: str) -> str:
    """The log once the container of `sha` is up."""
    hive.wait_for(lambda: f"{sha} probe ready" in log_of(hive, "worker"), timeout=30)
    return log_of(hive, "worker")


@pytest.mark.timeout(240)
def test_what_the_agent_writes_to_a_bind_outlives_a_rebuild(binds_hive: ServedHive) -> None:
    first = binds_hive.deploy("worker")
    assert f"{first['head']} found: nothing" in started(binds_hive, first["head"])
    worker = binds_hive.layout.agent("worker")

    with_binds = propose_container(binds_hive, "binds", ["/data", "/var/cache/tool"], "keep data")
    assert approve(binds_hive, with_binds).returncode == 0
    log = started(binds_hive, with_binds["head"])
    assert f"{with_binds['head']} wrote /data" in log
    kept = worker.bind_folder("/data") / "kept"
    assert kept.read_text() == "kept across deploys\n"
    assert kept.stat().st_uid == base_of(binds_hive, "worker")
    assert worker.binds.stat().st_uid == 0 and worker.binds.stat().st_mode & 0o777 == 0o700

    rebuilt = propose_container(
        binds_hive, "binds", ["/data", "/var/cache/tool"], "a new prompt, same binds"
    )
    assert approve(binds_hive, rebuilt).returncode == 0
    log = started(binds_hive, rebuilt["head"])
    assert f"{rebuilt['head']} found: kept across deploys" in log
    assert f"{rebuilt['head']} cache: cached" in log
    # The agent's link inside its bind points at its own /etc; the host's never changed hands.
    assert (worker.bind_folder("/data") / "escape").is_symlink()
    assert Path("/etc").stat().st_uid == 0

    dropped = propose_container(binds_hive, "binds", ["/var/cache/tool"], "no more /data")
    assert approve(binds_hive, dropped).returncode == 0
    log = started(binds_hive, dropped["head"])
    assert f"{dropped['head']} found: nothing" in log  # no longer mounted
    assert f"{dropped['head']} cache: cached" in log
    assert kept.read_text() == "kept across deploys\n"  # its host folder is kept


@pytest.mark.timeout(180)
def test_a_link_planted_where_a_bind_folder_goes_fails_the_deploy_and_exposes_nothing(
    binds_hive: ServedHive, tmp_path: Path
) -> None:
    deployed = binds_hive.deploy("worker")
    started(binds_hive, deployed["head"])
    before = binds_hive.json("agents")[0]["runtime"]
    host = tmp_path / "host-secrets"
    host.mkdir()
    (host / "secret").write_text("host only\n")
    worker = binds_hive.layout.agent("worker")
    worker.binds.mkdir(mode=0o700)
    worker.bind_folder("/data").symlink_to(host)  # what a hostile hand would plant

    pending = propose_container(binds_hive, "binds", ["/data"], "bind /data")
    result = approve(binds_hive, pending)
    assert result.returncode == 1
    shown = binds_hive.json("show", str(pending["id"]))
    assert shown["status"] == "failed"
    assert "bind /data" in shown["reason"] and "not a plain folder" in shown["reason"]
    assert "\n" not in shown["reason"]
    agent = binds_hive.json("agents")[0]
    assert agent["deployed"] == deployed["head"]
    assert agent["runtime"]["pid"] == before["pid"] and agent["runtime"]["state"] == "running"
    assert sorted(p.name for p in host.iterdir()) == ["secret"]
    assert host.stat().st_uid == 0 and (host / "secret").stat().st_uid == 0
    assert f"{pending['head']} probe ready" not in log_of(binds_hive, "worker")
