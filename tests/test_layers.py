"""The import contracts in pyproject.toml cover the whole package as it is now."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gitops_hive"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _top_level() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return names - {"template"}


def test_the_agent_side_is_forbidden_every_controller_module() -> None:
    contract = next(c for c in _contracts() if c.get("source_modules") == ["gitops_hive.agent"])
    forbidden = {str(m).removeprefix("gitops_hive.") for m in contract["forbidden_modules"]}  # type: ignore[attr-defined]
    shared = {"agent", "protocol", "__main__"}
    assert sorted(_top_level() - shared - forbidden) == []


def test_each_library_contract_names_every_other_package() -> None:
    """A new package must be placed in each 'only X imports Y' contract on purpose."""
    for contract in _contracts():
        name = str(contract["name"])
        if not name.startswith("Only "):
            continue
        owner = name.split()[1].rstrip("/")
        sources = {str(m).removeprefix("gitops_hive.") for m in contract["source_modules"]}  # type: ignore[attr-defined]
        packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"template"}
        assert sorted(packages - sources - {owner}) == [], name
