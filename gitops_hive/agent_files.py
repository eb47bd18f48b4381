"""What the operator asks of an agent's files beyond its commits: its log read from its end
(`hivectl logs`), the notify hooks written again into its proposed/ (`hivectl hooks install`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gitops_hive import repos
from gitops_hive.agent_logs import LogRead, check_lines, read_log
from gitops_hive.agents import require_agent
from gitops_hive.context import HiveContext, blocking
from gitops_hive.errors import HiveError
from gitops_hive.names import AgentName, validate_name
from gitops_hive.store import queries


class AgentFiles:
    """An agent's log and its proposed/ hooks, each name checked by the one validator."""

    def __init__(self, ctx: HiveContext) -> None:
        self.ctx = ctx

    async def log(self, raw_name: str, lines: int, since: int | None) -> LogRead:
        """An existing agent's run/agent.log: its last `lines`, or what came after `since`."""
        name = await require_agent(self.ctx, raw_name)
        return await blocking(read_log, self.ctx.layout.agent(name).log, check_lines(lines), since)

    async def install_hooks(self, raw_names: list[str]) -> list[dict[str, Any]]:
        """The notify hooks written again into the named agents' proposed/ (none named: every
        agent's); per agent what was written, or why not. Every name is checked first."""
        names = [await require_agent(self.ctx, raw) for raw in raw_names]
        if not raw_names:
            names = [validate_name(agent.name) for agent in await queries.list_agents(self.ctx.db)]
        return [await self._install(name) for name in dict.fromkeys(names)]

    async def _install(self, name: AgentName) -> dict[str, Any]:
        entry: dict[str, Any] = {"agent": name, "installed": False, "files": [], "error": None}
        proposed = self.ctx.layout.agent(name).proposed
        async with self.ctx.submit_locks(name):
            try:
                writes = await blocking(
                    repos.write_hooks, proposed, name, self.ctx.layout.notify_socket
                )
            except HiveError as exc:
                entry["error"] = exc.message
            else:
                entry.update(installed=True, files=[asdict(write) for write in writes])
        async with self.ctx.db.write() as conn:
            await queries.insert_event(conn, "hooks_installed", name, entry)
        return entry
