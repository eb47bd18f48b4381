"""Package names a hostile manager could list, against the real apt of the cached image base:
apt-get install must install exactly the names the review showed, nothing it matches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_hive.runtime import debian
from gitops_hive.runtime.build_steps import install_script
from gitops_hive.runtime.images import ImageCache
from tests.conftest import IMAGE_CACHE, need_nspawn

pytestmark = [pytest.mark.nspawn]


def cached_base() -> Path:
    need_nspawn()
    cache = ImageCache(IMAGE_CACHE, debian.host_mirror() or "", debian.host_suite() or "")
    base = cache.base_path(cache.base_packages())
    if not base.is_dir():
        pytest.skip("no cached image base: `make test` builds it (scripts/agent_image.py)")
    return base


def simulate(base: Path, packages: list[str]) -> subprocess.CompletedProcess[str]:
    """The layer's own install script, simulated in the base: read-only, no network."""
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--read-only",
        "--private-network",
        f"--machine=hive-apt-probe-{base.name[-8:]}",
        f"--directory={base}",
        "--",
        "/bin/sh",
        "-c",
        install_script(packages, simulate=True),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.timeout(150)
def test_a_name_apt_could_read_as_a_regular_expression_installs_nothing_else() -> None:
    base = cached_base()
    # "x.term" is no package, but as a regular expression it matches xterm and hundreds more.
    result = simulate(base, ["x.term"])
    assert result.returncode != 0, result.stdout
    assert "Unable to locate package x.term" in result.stdout + result.stderr
    assert "Inst " not in result.stdout


@pytest.mark.timeout(150)
def test_a_real_name_still_installs() -> None:
    result = simulate(cached_base(), ["jq"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Inst jq " in result.stdout
