"""The manager's /agents under real systemd-nspawn: drafts appear live, state by ownership."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from gitops_hive.runtime.agents_view import mount_points_under
from gitops_hive.runtime.shell import find_leader, nspawn_shell
from tests.conftest import ServedHive, need_nspawn, serving
from tests.test_mcp import payload
from tests.test_nspawn import base_of, log_of, nspawn_root, probe_command

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]


def pid_of(hive: ServedHive, agent: str) -> int:
    """The pid of the systemd-nspawn running `agent`."""
    return int(next(a for a in hive.json("agents") if a["name"] == agent)["runtime"]["pid"])


def inside(hive: ServedHive, agent: str, script: str) -> subprocess.CompletedProcess[str]:
    """`script` run by root inside the agent's running container (the terminal's way in)."""
    shell = nspawn_shell(find_leader(pid_of(hive, agent)), ["/bin/sh", "-c", script])
    return subprocess.run(
        shell.argv, env=shell.env, cwd=shell.cwd, capture_output=True, text=True, timeout=20
    )


@asynccontextmanager
async def manager_mcp(hive: ServedHive) -> AsyncIterator[ClientSession]:
    """hive-mcp as the manager runs it: inside its container, on its socket, driven by the
    MCP SDK's client over stdio."""
    package_root = str(Path(__file__).parents[1])  # bound read-only into every container
    mcp = ["env", f"PYTHONPATH={package_root}", sys.executable, "-m", "gitops_hive.agent.mcp"]
    shell = nspawn_shell(find_leader(pid_of(hive, "manager")), mcp)
    params = StdioServerParameters(command=shell.argv[0], args=list(shell.argv[1:]), env=shell.env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.mark.timeout(240)
async def test_a_draft_is_in_the_running_manager_at_once_and_its_state_is_the_managers(
    tmp_path: Path,
) -> None:
    need_nspawn()
    root = tmp_path / "hive"
    with serving(nspawn_root(root, probe_command(root))) as hive:
        hive.deploy("worker")
        hive.deploy("manager")
        for agent in ("worker", "manager"):
            hive.wait_for(lambda a=agent: "probe ready" in log_of(hive, a), timeout=20)
        manager_pid = pid_of(hive, "manager")
        manager_base = base_of(hive, "manager")

        async with manager_mcp(hive) as manager:
            draft = payload(await manager.call_tool("request_spawn_draft", {"name": "scout"}))
            assert (draft["repo"], draft["state"]) == (
                "/agents/scout/config",
                "/agents/scout/state",
            )
            # Checked once, right after the call returned: the draft is there already.
            seen = inside(hive, "manager", "ls -a /agents/scout/config /agents/scout/state")
            assert seen.returncode == 0, seen.stderr
            assert ".git" in seen.stdout and "agent.toml" in seen.stdout
            staged = inside(
                hive,
                "manager",
                "echo 'start with the docs' > /agents/scout/state/notes.md && "
                "git -C /agents/scout/config -c user.name=manager -c user.email=m@hive "
                "commit -q --allow-empty -m 'scout, as planned' && echo staged",
            )
            assert staged.stdout.strip() == "staged", staged.stderr
            notes = hive.layout.agent("scout").state / "notes.md"
            assert notes.stat().st_uid == manager_base
            spawned = payload(
                await manager.call_tool("request_spawn_commit", {"name": "scout", "sha": "main"})
            )
        assert spawned["summary"] == "scout, as planned" and "main resolved to" in spawned["next"]
        approved = hive.cli("approve", str(spawned["id"]), "--sha", spawned["head"])
        assert approved.returncode == 0, approved.stderr
        hive.wait_for(lambda: "probe ready" in log_of(hive, "scout"), timeout=20)
        assert notes.stat().st_uid == base_of(hive, "scout")  # the agent's own from its start

        reads = inside(
            hive,
            "manager",
            "cat /agents/scout/state/notes.md /agents/worker/state/written-inside; "
            "for a in scout worker; do touch /agents/$a/state/x 2>/dev/null "
            "&& echo writable $a || echo read-only $a; "
            "(echo over >> /agents/$a/state/notes.md) 2>/dev/null && echo appended $a; done; "
            # What arrived from the host's namespace is locked: root inside cannot undo it.
            "umount /agents/worker/state 2>/dev/null && echo unmounted; "
            "mount -o remount,bind,rw /agents/worker/state 2>/dev/null && echo remounted; "
            "mkdir /agents/evil 2>/dev/null && echo made an entry",
        )
        assert reads.stdout.splitlines() == [
            "start with the docs",
            "written",
            "read-only scout",
            "read-only worker",
        ], reads.stderr
        assert notes.read_text() == "start with the docs\n"
        # Nothing of it needed the manager to restart.
        assert pid_of(hive, "manager") == manager_pid
    assert mount_points_under(root) == []  # the controller unmounted its view on the way out
