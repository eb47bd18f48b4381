"""The whole loop once, through the real CLI and a real controller."""

from __future__ import annotations

from tests.conftest import ServedHive


def test_spawn_approve_runs_the_agent(served: ServedHive) -> None:
    result = served.cli("spawn", "worker")
    assert result.returncode == 0, result.stderr
    pending = served.pending_for("worker")
    assert pending is not None and pending["kind"] == "spawn" and pending["base"] is None
    approved = served.cli("approve", str(pending["id"]), "--sha", pending["head"][:7])
    assert approved.returncode == 0, approved.stderr
    agents = served.json("agents")
    assert agents[0]["status"] == "running"
    assert agents[0]["deployed"] == pending["head"]
    heartbeat = served.layout.agent("worker").state / "heartbeat"
    served.wait_for(heartbeat.exists, what="the agent's heartbeat")
    assert heartbeat.read_text().split()[0] == pending["head"]
