"""Agent images under nspawn, in real containers built from the mirror apt uses: a package
set installed, a package that does not exist, an unchanged set from the cache, progress."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.runtime import debian
from gitops_hive.runtime.images import ImageCache
from tests.conftest import IMAGE_CACHE, ServedHive, need_nspawn
from tests.test_nspawn import log_of, probe_hive, propose_container

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]

# The agent inside: say what jq is and whether the host's Python (bound in) finds every
# library the harness loads in the image, then stay up.
IMPORTS = "import ssl, sqlite3, lzma, bz2, ctypes, readline, mcp, gitops_hive.agent.harness"
PROBE = (
    'echo "jq: $(jq --version 2>&1)"; '
    f"{sys.executable} -c '{IMPORTS}; print(\"python: ok\")'; "
    "echo probe ready; exec sleep 100000"
)
MISSING = "hive-test-no-such-package"


@pytest.fixture
def image_hive(tmp_path: Path) -> Iterator[ServedHive]:
    with probe_hive(tmp_path, PROBE) as hive:
        yield hive


def propose(hive: ServedHive, packages: list[str], note: str) -> dict[str, Any]:
    """Commit agent.toml with these packages (and a prompt change) to worker's proposed/."""
    return propose_container(hive, "packages", packages, note)


def approve(hive: ServedHive, pending: dict[str, Any]) -> Any:
    """`hivectl approve` as the operator runs it: progress on stderr, the outcome on stdout."""
    return hive.cli("approve", str(pending["id"]), "--sha", pending["head"], timeout=150)


@pytest.mark.timeout(240)
def test_approved_packages_run_and_an_unchanged_set_comes_from_the_cache(
    image_hive: ServedHive,
) -> None:
    image_hive.deploy("worker")  # packages = ["git"]: in the base already
    image_hive.wait_for(lambda: "probe ready" in log_of(image_hive, "worker"), timeout=20)
    assert "jq: /bin/sh: 1: jq: not found" in log_of(image_hive, "worker")
    assert "python: ok" in log_of(image_hive, "worker")

    first = approve(image_hive, propose(image_hive, ["git", "jq"], "needs jq"))
    assert first.returncode == 0, first.stderr
    assert "deployed" in first.stdout
    # Built now (apt's own lines) or by an earlier run sharing the cache: said either way.
    assert "apt-get install jq" in first.stderr or "git, jq from the cache" in first.stderr
    image_hive.wait_for(lambda: "jq: jq-1.6" in log_of(image_hive, "worker"), timeout=20)
    layers = sorted(IMAGE_CACHE.glob("layer-*"))

    again = propose(image_hive, ["jq", "git"], "same packages")
    second = approve(image_hive, again)
    assert second.returncode == 0, second.stderr
    assert "git, jq from the cache" in second.stderr  # a cache hit: nothing was installed
    assert "apt-get install" not in second.stderr
    assert sorted(IMAGE_CACHE.glob("layer-*")) == layers
    shown = image_hive.json("show", str(again["id"]))
    assert shown["status"] == "deployed" and shown["progress"] == []


@pytest.mark.timeout(180)
def test_a_missing_package_fails_with_apts_message_and_the_old_agent_runs_on(
    image_hive: ServedHive,
) -> None:
    deployed = image_hive.deploy("worker")
    image_hive.wait_for(lambda: "probe ready" in log_of(image_hive, "worker"), timeout=20)
    before = image_hive.json("agents")[0]["runtime"]

    pending = propose(image_hive, [MISSING], "a package that is not in Debian")
    result = approve(image_hive, pending)
    assert result.returncode == 1
    assert f"E: Unable to locate package {MISSING}" in result.stderr  # as it came, then the log
    shown = image_hive.json("show", str(pending["id"]))
    assert shown["status"] == "failed"
    assert f"Unable to locate package {MISSING}" in shown["reason"]
    assert f"E: Unable to locate package {MISSING}" in shown["log"]
    agent = image_hive.json("agents")[0]
    assert agent["deployed"] == deployed["head"]
    assert agent["runtime"]["pid"] == before["pid"] and agent["runtime"]["state"] == "running"
    assert not list(IMAGE_CACHE.glob("*.staging"))


@pytest.mark.timeout(120)
async def test_two_builds_of_one_package_set_build_it_once(tmp_path: Path) -> None:
    need_nspawn()
    shared = ImageCache(IMAGE_CACHE, debian.host_mirror() or "", debian.host_suite() or "")
    base = shared.base_path(shared.base_packages())
    (tmp_path / base.name).symlink_to(base)  # a throwaway cache on the shared base
    for remembered in IMAGE_CACHE.glob("python-libs-*.json"):
        (tmp_path / remembered.name).write_bytes(remembered.read_bytes())
    cache = ImageCache(tmp_path, shared.mirror, shared.suite)
    lines: list[list[str]] = [[], []]
    first, second = await asyncio.gather(
        cache.ensure(["jq"], lines[0].append), cache.ensure(["jq"], lines[1].append)
    )
    assert first.layer == second.layer and first.layer is not None
    assert sorted([first.cached, second.cached]) == [False, True]  # one built, one waited
    assert sum("apt-get install jq" in "\n".join(got) for got in lines) == 1
    assert (first.layer / "usr" / "bin" / "jq").is_file()
    assert not (first.layer / "var" / "lib" / "apt" / "lists").exists()  # dropped
    assert not list(tmp_path.glob("*.staging"))
