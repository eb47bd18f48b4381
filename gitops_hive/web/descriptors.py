"""The open files a hive needs and the limit it runs under (RLIMIT_NOFILE): the soft limit
raised to the hard one at start, and a clear refusal when even that is too low."""

from __future__ import annotations

import resource
from dataclasses import dataclass

from gitops_hive.config import HiveConfig
from gitops_hive.errors import SystemLimit

# Open files of the controller itself, with room to spare: stdio, hive.db (two connections,
# its WAL and shm), the root lock, inotify, epoll, the notify socket, the dashboard and
# control listeners, and what a build or a rescan holds a moment (pipes, libgit2's packs).
RESERVED = 128
# What a running agent holds besides its socket: its output pipe, agent.log and a pidfd.
RUNNING_AGENT = 3
_UNLIMITED_TRIES = (1 << 20, 65536, 10240)  # a hard limit of "unlimited" (macOS): try these


@dataclass(frozen=True)
class DescriptorBudget:
    """What the hive's open files go to, and the limit they must fit in."""

    agents: int
    connections: int  # an agent's connection cap (limits.agent_connections)
    fixed: int  # the controller, the dashboard's and the control socket's connection caps
    limit: int  # RLIMIT_NOFILE's soft limit, once raised

    @property
    def per_agent(self) -> int:
        """Its socket, its connections, and what it holds while it runs."""
        return 1 + self.connections + RUNNING_AGENT

    @property
    def needed(self) -> int:
        return self.fixed + self.agents * self.per_agent

    @property
    def most_agents(self) -> int:
        """How many agents the limit has room for."""
        return max(0, (self.limit - self.fixed) // self.per_agent)

    def refusal(self) -> str:
        """The one-line reason a hive this size cannot start, and what to do."""
        return (
            f"{self.agents} agents need {self.needed} open files ({self.per_agent} each: its "
            f"socket, {self.connections} connections (limits.agent_connections) and "
            f"{RUNNING_AGENT} while it runs; {self.fixed} for the controller) but the "
            f"controller may open only {self.limit}: raise the limit (`ulimit -n "
            f"{self.needed}` before `hivectl serve`, or LimitNOFILE={self.needed} in its "
            "systemd unit), or lower limits.agent_connections"
        )


def budget(config: HiveConfig, agents: int, limit: int) -> DescriptorBudget:
    """The budget of a hive of `agents` agents under `limit` open files."""
    return DescriptorBudget(
        agents=agents,
        connections=config["limits.agent_connections"],
        fixed=RESERVED + 2 * config["limits.web_connections"],
        limit=limit,
    )


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit as far as the hard limit lets; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    tries = (hard,) if hard != resource.RLIM_INFINITY else _UNLIMITED_TRIES
    for target in tries:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue  # above what the kernel allows (macOS's OPEN_MAX): try a lower one
        break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def check_open_files(config: HiveConfig, agents: int) -> DescriptorBudget:
    """Raise the limit, then refuse (SystemLimit) if a hive of `agents` still cannot fit."""
    plan = budget(config, agents, raise_open_files_limit())
    if plan.needed > plan.limit:
        raise SystemLimit(plan.refusal())
    return plan
