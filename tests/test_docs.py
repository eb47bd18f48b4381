"""The docs stay true: settings, commands and modules they list are the ones that exist."""

from __future__ import annotations

from pathlib import Path

from gitops_hive.cli import main
from gitops_hive.settings import docs_table

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


def test_architecture_doc_maps_every_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    modules = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
        and "_data" not in path.parts
        and path.parent.name != "web"
        and path.name != "__main__.py"
    ]
    missing = [m for m in modules if f"`{m}`" not in text]
    assert missing == []
