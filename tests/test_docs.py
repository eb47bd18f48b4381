"""The docs stay true: settings, commands and modules they list are the ones that exist."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from gitops_hive.cli import main
from gitops_hive.config import docs_table

DOCS = Path(__file__).resolve().parent.parent / "docs"
PACKAGE = Path(__file__).resolve().parent.parent / "gitops_hive"


def test_configuration_doc_lists_every_setting() -> None:
    assert docs_table() in (DOCS / "configuration.md").read_text()


def test_cli_doc_lists_every_command() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = [name for name in main.commands if f"| `{name}" not in text]
    assert missing == []


def test_readme_mentions_every_command_and_each_has_help() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert [name for name in main.commands if f"hivectl {name}" not in readme] == []
    assert [name for name, cmd in main.commands.items() if not cmd.help] == []


def _modules() -> list[str]:
    """Every module of the package, web/ included; a package face that holds only its
    docstring is described by the folders table instead."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "_data" in path.parts or "__pycache__" in path.parts or path.parent.name == "template":
            continue
        body = ast.parse(path.read_text()).body
        only_docstring = all(
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
        )
        if path.name == "__init__.py" and only_docstring:
            continue
        found.append(str(path.relative_to(PACKAGE)))
    return sorted(found)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_architecture_doc_maps_every_module_and_no_other() -> None:
    text = (DOCS / "architecture.md").read_text()
    table = _section(text, "Modules")
    listed = re.findall(r"^\| `([^`]+\.py)` \|", table, re.MULTILINE)
    assert sorted(listed) == _modules()


def test_architecture_doc_has_every_folder_and_its_first_module_exists() -> None:
    table = _section((DOCS / "architecture.md").read_text(), "Folders")
    rows = dict(re.findall(r"^\| `([a-z_]+)/` \| .+ \| `([^`]+)` \|$", table, re.MULTILINE))
    folders = {
        path.parent.name
        for path in PACKAGE.glob("*/__init__.py")
        if path.parent.name not in ("template",)
    }
    assert set(rows) == folders
    assert [first for first in rows.values() if not (PACKAGE / first).is_file()] == []
    assert all(first.startswith(f"{folder}/") for folder, first in rows.items())


def test_architecture_doc_layers_are_the_import_contract() -> None:
    layers_section = _section((DOCS / "architecture.md").read_text(), "Layers")
    block = re.search(r"```\n(.*?)```", layers_section, re.DOTALL)
    assert block is not None
    config = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    assert block.group(1).splitlines() == contract["layers"]


def test_architecture_doc_names_no_module_that_is_gone() -> None:
    text = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text))
    gone = [
        name
        for name in named
        if not (PACKAGE / name).is_file() and not (DOCS.parent / name).is_file()
    ]
    assert gone == []
