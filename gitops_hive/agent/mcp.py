"""hive-mcp: a stdio MCP server inside the agent's container, forwarding to its hive socket."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from gitops_hive.agent.client import AgentClient, HiveCallError, socket_from_env
from gitops_hive.protocol import MAX_WAIT_SECONDS, Route

INSTRUCTIONS = f"""\
You are one agent of a hive. These tools are your only line to the other agents, the
manager and the operator. When nothing else is useful, call recv with
wait_seconds={MAX_WAIT_SECONDS:g} to park until a message arrives: never sleep in a shell.
Tools marked "manager only" are refused to other agents; a refusal says what to do instead.
"""

AgentName = Annotated[str, Field(description="An agent's name, e.g. 'worker' (a-z, 0-9, '-').")]
CommitSha = Annotated[
    str, Field(description="A commit id from the agent's proposed/ repo (7 to 40 hex digits).")
]


def build_server(client: AgentClient) -> MCPServer[Any]:
    """The MCP server with every hive tool, each one a call on `client`'s socket."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield None
        finally:
            await client.close()

    server: MCPServer[Any] = MCPServer("gitops-hive", instructions=INSTRUCTIONS, lifespan=lifespan)

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return await client.call(method, path, body)
        except HiveCallError as exc:
            raise ToolError(exc.message) from None

    @server.tool()
    async def whoami() -> dict[str, Any]:
        """Your agent name, your role (agent or manager), the manager's name and whom you may
        message."""
        return dict(await call("GET", Route.WHOAMI))

    @server.tool()
    async def send(
        to: AgentName,
        body: Annotated[str, Field(description="The message text (up to 64 KiB).")],
    ) -> dict[str, Any]:
        """Put a message in another agent's inbox. You may message the agents listed in your
        agent.toml [messaging] recipients; the manager may message anyone."""
        return dict(await call("POST", Route.SEND, {"to": to, "body": body}))

    @server.tool()
    async def recv(
        wait_seconds: Annotated[
            float,
            Field(
                description=f"How long to park when your inbox is empty, at most "
                f"{MAX_WAIT_SECONDS:g} (a larger value is clamped).",
                ge=0,
            ),
        ] = MAX_WAIT_SECONDS,
    ) -> dict[str, Any]:
        """Take the messages waiting in your inbox. Returns at once when one is there, else
        parks until one lands or the wait ends (then the list is empty). Use this, with
        wait_seconds=180, whenever you have nothing else useful to do."""
        return dict(await call("POST", Route.RECV, {"wait_seconds": wait_seconds}))

    @server.tool()
    async def request_apply_commit(agent: AgentName, sha: CommitSha) -> dict[str, Any]:
        """Manager only. Propose a commit of a running agent's proposed/ repo for the
        operator's approval. The outcome arrives in your inbox."""
        return dict(await call("POST", Route.REQUEST_APPLY_COMMIT, {"agent": agent, "sha": sha}))

    @server.tool()
    async def request_spawn(name: AgentName) -> dict[str, Any]:
        """Manager only. Create a new agent from the template and queue it for approval in
        one step."""
        return dict(await call("POST", Route.REQUEST_SPAWN, {"name": name}))

    @server.tool()
    async def request_spawn_draft(name: AgentName) -> dict[str, Any]:
        """Manager only. Create a new agent's proposed/ repo from the template, with nothing
        queued: commit to it, then call request_spawn_commit."""
        return dict(await call("POST", Route.REQUEST_SPAWN_DRAFT, {"name": name}))

    @server.tool()
    async def request_spawn_commit(name: AgentName, sha: CommitSha) -> dict[str, Any]:
        """Manager only. Queue a draft agent's commit for approval as its spawn."""
        return dict(await call("POST", Route.REQUEST_SPAWN_COMMIT, {"name": name, "sha": sha}))

    @server.tool()
    async def ask_operator(
        question: Annotated[str, Field(description="One clear question for the human operator.")],
        options: Annotated[
            list[str] | None, Field(description="Answers to offer, if the choice is closed.")
        ] = None,
    ) -> dict[str, Any]:
        """Manager only. Ask the human operator; the answer arrives later in your inbox as a
        message of kind 'answer'. Keep working (or recv) meanwhile."""
        payload: dict[str, Any] = {"question": question, "options": options}
        return dict(await call("POST", Route.ASK_OPERATOR, payload))

    @server.tool()
    async def list_agents() -> list[dict[str, Any]]:
        """Manager only. Every agent with its status, deployed and proposed commits, model
        and pending approval."""
        return list(await call("GET", Route.LIST_AGENTS))

    @server.tool()
    async def list_pending() -> list[dict[str, Any]]:
        """Manager only. The approvals waiting for the operator."""
        return list(await call("GET", Route.LIST_PENDING))

    return server


def main() -> None:
    """Run the stdio MCP server for the socket named by --socket or $HIVE_SOCKET."""
    parser = argparse.ArgumentParser(prog="hive-mcp", description=__doc__)
    parser.add_argument(
        "--socket",
        default=None,
        help="The agent's hive socket (default: $HIVE_SOCKET, else /run/hive/hive.sock).",
    )
    args = parser.parse_args()
    client = AgentClient(socket_from_env(args.socket))
    build_server(client).run("stdio")


if __name__ == "__main__":
    main()
