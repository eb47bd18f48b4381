"""An agent child the process runtime stopped leaves no asyncio transport open: the exit is
learnt from a pidfd first, and the transport is still given it before the runtime is done
(a transport left open warns when collected, failing whatever test is running then)."""

from __future__ import annotations

from pathlib import Path

from gitops_hive.layout import HiveLayout
from gitops_hive.runtime.children import ChildRuntime
from tests.conftest import make_root, started_hive


async def test_a_stopped_agent_leaves_no_transport_open(tmp_path: Path) -> None:
    hive = await started_hive(HiveLayout(make_root(tmp_path / "hive")))
    try:
        spawned = await hive.spawn("worker")
        await hive.approve(spawned.id, spawned.head, "operator")
        runtime = hive.ctx.runtime
        assert isinstance(runtime, ChildRuntime)
        process = runtime._slots["worker"].current.process  # type: ignore[union-attr]
        await hive.stop("worker", "operator")
        assert process.returncode is not None
        assert process._transport.is_closing()  # type: ignore[attr-defined]
    finally:
        await hive.close()
