"""The docs stay true: settings, commands, modules, API routes, agent socket routes and MCP
tools they list are the ones that exist."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

from aiohttp import web
from mcp import Client

from gitops_hive.agent.client import AgentClient
from gitops_hive.agent.mcp import build_server
from gitops_hive.agent_calls import AgentCalls
from gitops_hive.cli import main
from gitops_hive.config import docs_table
from gitops_hive.hive import Hive
from gitops_hive.protocol import Route
from gitops_hive.web.agent_api import make_agent_app
from gitops_hive.web.control_api import make_control_app

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


def _table_routes(section: str, prefix: str) -> set[str]:
    """`METHOD /path` of every row of a docs table, path parameters as {name}, no query."""
    rows = re.findall(rf"^\| `(GET|POST) ({prefix}[^`?\[ ]*)", section, re.MULTILINE)
    found = set()
    for method, path in rows:
        path = re.sub(r"/(NAME|ID)(?=/|$)", lambda m: "/{" + m[1].lower() + "}", path)
        found.add(f"{method} {path}")
    return found


def _app_routes(app: web.Application, prefix: str) -> set[str]:
    """`METHOD /path` of every route of a real app under `prefix` (HEAD is GET's shadow)."""
    return {
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(prefix)
        and route.method in ("GET", "POST")
    }


def test_the_control_api_table_is_the_control_sockets_routes_both_ways() -> None:
    """docs/cli.md's control API table against the app the control socket serves."""
    documented = _table_routes(_section((DOCS / "cli.md").read_text(), "The control API"), "/api/")
    served = _app_routes(make_control_app(Hive.__new__(Hive)), "/api/")
    assert documented == served
    # The dashboard adds /api/events and /api/csrf, both in the README.
    readme = (DOCS.parent / "README.md").read_text()
    assert "`/api/events`" in readme and "`/api/csrf`" in readme


def test_the_agent_socket_table_is_the_agent_apps_routes_both_ways() -> None:
    documented = _table_routes(_section((DOCS / "cli.md").read_text(), "An agent's socket"), "/v1/")
    served = _app_routes(make_agent_app(AgentCalls.__new__(AgentCalls), 0), "/v1/")
    assert documented == served
    assert {route.split(" ")[1] for route in served} == {route.value for route in Route}


async def test_the_mcp_tools_listed_are_the_servers_tools_both_ways(tmp_path: Path) -> None:
    """The tools the real hive-mcp server lists (through the MCP SDK's client, in process)
    are the tools docs/cli.md and the README name."""
    async with Client(build_server(AgentClient(tmp_path / "none.sock"))) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert tools >= {"whoami", "send", "recv", "ask_operator"}
    cli_doc = _section((DOCS / "cli.md").read_text(), "An agent's socket")
    sentence = cli_doc[cli_doc.index("`hive-mcp [--socket PATH]`") :]
    sentence = sentence[: sentence.index("A refused call")]
    assert set(re.findall(r"`([a-z_]+)`", sentence)) - {"hive_socket"} == tools
    readme = (DOCS.parent / "README.md").read_text()
    agents_talk = readme[readme.index("## Agents talk") :]
    paragraph = agents_talk[: agents_talk.index("```")]
    named = set(re.findall(r"`([a-z_]+)`", paragraph))
    assert tools <= named, tools - named
    assert {n for n in named if n.startswith(("request_", "list_"))} <= tools


def test_every_make_target_the_docs_name_exists() -> None:
    """`make X` in README or docs/: make itself knows the target (a dry run plans it)."""
    texts = [DOCS.parent / "README.md", *DOCS.glob("*.md")]
    command = re.compile(r"(?:`|^)make ([a-z][\w-]*)", re.MULTILINE)  # in code, not prose
    named = {target for doc in texts for target in command.findall(doc.read_text())}
    assert {"test", "demo", "bench"} <= named
    unknown = [
        target
        for target in sorted(named)
        if subprocess.run(
            ["make", "-n", "-C", str(DOCS.parent), target], capture_output=True
        ).returncode
    ]
    assert unknown == []
