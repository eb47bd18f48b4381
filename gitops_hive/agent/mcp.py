"""hive-mcp: a stdio MCP server inside the agent's container, forwarding to its hive socket."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool
from pydantic import Field, ValidationError

from gitops_hive.agent.client import AgentClient, HiveCallError, socket_from_env
from gitops_hive.agent.tool_results import (
    AgentSummary,
    Draft,
    Identity,
    Inbox,
    Pending,
    Question,
    Sent,
    Submitted,
)
from gitops_hive.protocol import MAX_WAIT_SECONDS, Route

INSTRUCTIONS = f"""\
You are one agent of a hive. These tools are your only line to the other agents, the
manager and the operator. When nothing else is useful, call recv with
wait_seconds={MAX_WAIT_SECONDS:g} to park until a message arrives: never sleep in a shell.
Tools marked "manager only" are refused to other agents; a refusal says what to do instead.
"""

AgentName = Annotated[str, Field(description="An agent's name, e.g. 'worker' (a-z, 0-9, '-')")]
CommitRef = Annotated[
    str,
    Field(
        description="A branch of the agent's proposed/ repo (e.g. 'main') or a commit id; "
        "it is resolved once and that sha pinned for review"
    ),
]
JSON_TYPES = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "an object",
    "null": "null",
}


def expected(schema: dict[str, Any]) -> str:
    """An argument's JSON schema in words: 'a number of at least 0 (how long to park)'."""
    if "anyOf" in schema:
        words = " or ".join(expected(part) for part in schema["anyOf"])
    elif schema.get("type") == "array":
        words = f"a list of {expected(schema.get('items', {})).removeprefix('a ')}s"
    else:
        words = JSON_TYPES.get(str(schema.get("type")), "a value")
    if "minimum" in schema:
        words += f" of at least {schema['minimum']:g}"
    if "description" in schema:
        text = str(schema["description"]).rstrip(".")
        words += f" ({text[:1].lower()}{text[1:]})"
    return words


def argument_problem(error: ValidationError, parameters: dict[str, Any]) -> str:
    """Arguments the tool's schema refuses, in one line naming each and what it takes."""
    properties = parameters.get("properties", {})
    problems: list[str] = []
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else "?"
        missing = " is missing" if detail["type"] == "missing" else ""
        problems.append(
            f"argument `{name}`{missing}: expected {expected(properties.get(name, {}))}"
        )
    return "; ".join(dict.fromkeys(problems))


class HiveServer(MCPServer[Any]):
    """The SDK's server, offering only the tools the hive lets this caller call, and
    wording refused arguments in one line."""

    def __init__(self, offered: Collection[str] | None, **kwargs: Any) -> None:
        super().__init__("gitops-hive", **kwargs)
        self.offered = None if offered is None else frozenset(offered)

    async def list_tools(self) -> list[MCPTool]:
        """The tools this caller may call (all of them when the hive could not say)."""
        tools = await super().list_tools()
        return [t for t in tools if self.offered is None or t.name in self.offered]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """A call, even of a tool not offered: the controller refuses it with its reason."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            tool = self._tool_manager.get_tool(name)
            cause = exc.__cause__
            if tool is None or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"{name}: {argument_problem(cause, tool.parameters)}") from cause


def build_server(client: AgentClient, offered: Collection[str] | None = None) -> HiveServer:
    """The MCP server with every hive tool, each one a call on `client`'s socket; `offered`:
    the tools the hive lets this caller call (whoami's `tools`), the others are not listed."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield None
        finally:
            await client.close()

    server = HiveServer(offered, instructions=INSTRUCTIONS, lifespan=lifespan)

    async def call(route: Route, body: dict[str, Any] | None = None) -> Any:
        method = "GET" if route in (Route.WHOAMI, Route.LIST_AGENTS, Route.LIST_PENDING) else "POST"
        try:
            return await client.call(method, route, body)
        except HiveCallError as exc:
            raise ToolError(exc.message) from None

    @server.tool()
    async def whoami() -> Identity:
        """Your agent name, your role (agent or manager), the manager's name, whom you may
        message and the tools you may call."""
        return Identity.model_validate(await call(Route.WHOAMI))

    @server.tool()
    async def send(
        to: AgentName,
        body: Annotated[str, Field(description="The message text (up to 64 KiB)")],
    ) -> Sent:
        """Put a message in another agent's inbox. You may message the agents listed in your
        agent.toml [messaging] recipients; the manager may message anyone."""
        return Sent.model_validate(await call(Route.SEND, {"to": to, "body": body}))

    @server.tool()
    async def recv(
        wait_seconds: Annotated[
            float,
            Field(
                description=f"How long to park when your inbox is empty, at most "
                f"{MAX_WAIT_SECONDS:g} (a larger value is clamped)",
                ge=0,
            ),
        ] = MAX_WAIT_SECONDS,
    ) -> Inbox:
        """Take the messages waiting in your inbox. Returns at once when one is there, else
        parks until one lands or the wait ends (then the list is empty). Use this, with
        wait_seconds=180, whenever you have nothing else useful to do."""
        return Inbox.model_validate(await call(Route.RECV, {"wait_seconds": wait_seconds}))

    @server.tool()
    async def request_apply_commit(agent: AgentName, sha: CommitRef) -> Submitted:
        """Manager only. Propose a commit of a running agent's proposed/ repo (a branch or a
        sha) for the operator's approval; the reply's head is the sha pinned. The outcome
        arrives in your inbox."""
        reply = await call(Route.REQUEST_APPLY_COMMIT, {"agent": agent, "sha": sha})
        return Submitted.model_validate(reply)

    @server.tool()
    async def request_spawn(name: AgentName) -> Submitted:
        """Manager only. Create a new agent from the template and queue it for approval in
        one step."""
        return Submitted.model_validate(await call(Route.REQUEST_SPAWN, {"name": name}))

    @server.tool()
    async def request_spawn_draft(name: AgentName) -> Draft:
        """Manager only. Create a new agent's proposed/ repo from the template, with nothing
        queued: commit to it (and stage notes in its state folder), then call
        request_spawn_commit."""
        return Draft.model_validate(await call(Route.REQUEST_SPAWN_DRAFT, {"name": name}))

    @server.tool()
    async def request_spawn_commit(name: AgentName, sha: CommitRef) -> Submitted:
        """Manager only. Queue a draft agent's commit (a branch or a sha) for approval as its
        spawn; the reply's head is the sha pinned."""
        reply = await call(Route.REQUEST_SPAWN_COMMIT, {"name": name, "sha": sha})
        return Submitted.model_validate(reply)

    @server.tool()
    async def ask_operator(
        question: Annotated[str, Field(description="One clear question for the human operator")],
        options: Annotated[
            list[str] | None,
            Field(
                description="Answers to offer, if the choice is closed (at most 10, each "
                "one line under 200 characters)"
            ),
        ] = None,
    ) -> Question:
        """Manager only. Ask the human operator; the answer arrives later in your inbox as a
        message of kind 'answer'. Keep working (or recv) meanwhile."""
        reply = await call(Route.ASK_OPERATOR, {"question": question, "options": options})
        return Question.model_validate(reply)

    @server.tool()
    async def list_agents() -> list[AgentSummary]:
        """Manager only. Every agent with its status, deployed and proposed commits, model
        and pending approval."""
        return [AgentSummary.model_validate(a) for a in await call(Route.LIST_AGENTS)]

    @server.tool()
    async def list_pending() -> list[Pending]:
        """Manager only. The approvals waiting for the operator."""
        return [Pending.model_validate(a) for a in await call(Route.LIST_PENDING)]

    return server


async def offered_tools(socket_path: Path) -> list[str] | None:
    """The tools the hive lets this socket's agent call; None (offer all, the controller
    still refuses) when it cannot be asked."""
    async with AgentClient(socket_path) as client:
        try:
            return [str(tool) for tool in (await client.whoami())["tools"]]
        except (HiveCallError, KeyError, TypeError) as exc:
            print(f"hive-mcp: cannot ask the hive which tools to offer: {exc}", file=sys.stderr)
            return None


def main() -> None:
    """Run the stdio MCP server for the socket named by --socket or $HIVE_SOCKET."""
    parser = argparse.ArgumentParser(prog="hive-mcp", description=__doc__)
    parser.add_argument(
        "--socket",
        default=None,
        help="The agent's hive socket (default: $HIVE_SOCKET, else /run/hive/hive.sock).",
    )
    args = parser.parse_args()
    socket_path = socket_from_env(args.socket)
    offered = asyncio.run(offered_tools(socket_path))
    build_server(AgentClient(socket_path), offered).run("stdio")


if __name__ == "__main__":
    main()
