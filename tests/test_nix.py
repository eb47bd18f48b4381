"""nix/ parses, agrees with the settings table and pyproject, and `hivectl unit` is a unit
systemd accepts with the NixOS module's hardening. A NixOS host cannot run here: the module
is parsed and cross-checked, not evaluated (docs/nixos.md says so)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from gitops_hive.cli.unit import SERVICE, render_unit
from gitops_hive.settings import BY_KEY
from tests.conftest import run_hivectl

ROOT = Path(__file__).resolve().parent.parent
NIX = ROOT / "nix"
needs_nix = pytest.mark.skipif(
    shutil.which("nix-instantiate") is None, reason="nix-instantiate (Debian's nix-bin) missing"
)
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze missing"
)


@needs_nix
@pytest.mark.parametrize("name", sorted(p.name for p in NIX.glob("*.nix")))
def test_every_nix_file_parses(name: str) -> None:
    result = subprocess.run(
        ["nix-instantiate", "--parse", str(NIX / name)],
        capture_output=True,
        text=True,
        env={**os.environ, "NIX_CONFIG": "build-users-group ="},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_each_module_option_names_a_setting_and_its_default_is_the_settings_default() -> None:
    keys = json.loads((NIX / "options.json").read_text())
    defaults = json.loads((NIX / "defaults.json").read_text())
    assert sorted(k for k in keys.values() if k not in BY_KEY) == []
    assert defaults == {key: BY_KEY[key].default for key in sorted(keys.values())}
    module = (NIX / "module.nix").read_text()
    declared = set(re.findall(r"^    (\w+) = lib\.mk(?:Option|EnableOption)", module, re.M))
    assert set(keys) <= declared  # every mapped option exists in the module
    for option, key in keys.items():
        assert f'default = defaults."{key}";' in module, option


def test_the_package_lists_pyprojects_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {
        re.split(r"[<>=!~ \[]", d, maxsplit=1)[0] for d in pyproject["project"]["dependencies"]
    }
    package = (NIX / "package.nix").read_text()
    listed = re.search(r"dependencies = with python3Packages; \[(.*?)\];", package, re.S)
    assert listed is not None
    assert set(listed.group(1).split()) == wanted


def _nix_service_config() -> dict[str, str]:
    module = (NIX / "module.nix").read_text()
    block = re.search(r"serviceConfig = \{(.*?)\n      \};", module, re.S)
    assert block is not None
    found = {}
    for key, value in re.findall(r"^\s+(\w+) = (.+?);", block.group(1), re.M):
        value = value.strip('"')
        found[key] = {"true": "yes", "false": "no"}.get(value, value)
    return found


def test_the_debian_unit_has_the_modules_hardening() -> None:
    nix = _nix_service_config()
    nix.pop("ExecStart")
    nix.pop("ReadWritePaths")  # the root, in both
    assert dict(SERVICE) == nix


@needs_systemd_analyze
def test_the_printed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    root = tmp_path / "hive"
    printed = run_hivectl(root, "unit")
    assert printed.returncode == 0, printed.stderr
    exec_start = next(ln for ln in printed.stdout.splitlines() if ln.startswith("ExecStart="))
    hivectl = exec_start.removeprefix("ExecStart=").split()[0]
    assert printed.stdout == render_unit(root.absolute(), hivectl)
    unit = tmp_path / "gitops-hive.service"
    unit.write_text(printed.stdout)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
