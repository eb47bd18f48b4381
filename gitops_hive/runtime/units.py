"""The runtime through systemd's D-Bus API: each agent a transient `hive-agent-NAME.service`.

Used when systemd is PID 1: systemd supervises and journals the agent (its output also goes
to agents/NAME/run/agent.log), and the controller hears of a failure from the unit's
PropertiesChanged signal. What the unit runs comes from a launcher's invocation (the nspawn
launcher's `systemd-nspawn` command line, in production). Restarts follow the same
supervision as the child runtime's (`supervision.Supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from gitops_hive.agent_logs import read_log
from gitops_hive.errors import HiveError, RuntimeFailure, SystemdError
from gitops_hive.runtime.base import (
    SYSTEMD_MOUNT_NAMESPACE,
    AgentLaunch,
    AgentState,
    CrashHandler,
    Launcher,
    RuntimeStatus,
)
from gitops_hive.runtime.supervision import CRASH_LOG_LINES, RestartPolicy, Supervisor
from gitops_hive.runtime.systemd_bus import (
    CALL_TIMEOUT,
    SystemdBus,
    UnitState,
    unit_name,
    watch_failures,
)

logger = logging.getLogger(__name__)
CLOSE_TIMEOUT = 5.0


@dataclass
class _Unit:
    supervisor: Supervisor
    launch: AgentLaunch | None = None
    watcher: asyncio.Task[None] | None = None
    restart: asyncio.Task[None] | None = None
    failed: asyncio.Queue[UnitState] = field(default_factory=asyncio.Queue)


class UnitRuntime:
    """apply / stop / status / logs through transient units on a systemd bus."""

    def __init__(
        self,
        bus_address: str,
        launcher: Launcher,
        *,
        start_grace: float,
        policy: RestartPolicy,
        on_crash: CrashHandler | None = None,
    ) -> None:
        self.bus_address = bus_address
        self.launcher = launcher
        self.private_users = launcher.private_users
        # Units start in systemd's, not in a hardened service's private one (ours).
        self.mount_namespace = SYSTEMD_MOUNT_NAMESPACE
        self.start_grace = start_grace
        self.policy = policy
        self.on_crash = on_crash
        self._units: dict[str, _Unit] = {}
        self._stack = contextlib.AsyncExitStack()
        self._bus: SystemdBus | None = None

    async def _connect(self) -> SystemdBus:
        if self._bus is None:
            self._bus = await self._stack.enter_async_context(SystemdBus.connect(self.bus_address))
        return self._bus

    def _unit(self, agent: str) -> _Unit:
        return self._units.setdefault(agent, _Unit(Supervisor(self.policy)))

    async def _listen(self, agent: str, unit: _Unit) -> None:
        """Watch the unit's failures; never wait forever for the watch to be in place."""
        if unit.watcher is not None and unit.watcher.done():
            unit.watcher = None  # it ended (the bus said no): watch anew
        if unit.watcher is None:
            bus = await self._connect()
            ready = asyncio.Event()
            watcher = asyncio.create_task(
                watch_failures(bus, unit_name(agent), unit.failed.put, ready)
            )
            unit.watcher = watcher
            listening = asyncio.create_task(ready.wait())
            await asyncio.wait(
                {watcher, listening}, timeout=CALL_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            listening.cancel()
            if watcher.done():
                unit.watcher = None
                watcher.result()  # raises why it could not watch
                raise SystemdError(f"the watch on {unit_name(agent)} ended at once")
            if not ready.is_set():
                watcher.cancel()
                unit.watcher = None
                raise SystemdError(f"could not watch {unit_name(agent)} within {CALL_TIMEOUT:g}s")

    async def _start(self, launch: AgentLaunch) -> None:
        bus = await self._connect()
        how = await self.launcher.invocation(launch)
        log = launch.run / "agent.log"
        with log.open("a") as handle:
            handle.write(f"--- start {launch.sha} (unit {unit_name(launch.agent)})\n")
        await bus.start_transient(
            unit_name(launch.agent),
            how.argv,
            description=f"gitops-hive agent {launch.agent} at {launch.sha[:12]}",
            environment=how.env,
            output_file=str(log),
        )

    async def apply(self, launch: AgentLaunch) -> None:
        """Start the unit; a failure within the start grace brings the old commit back."""
        unit = self._unit(launch.agent)
        await self._listen(launch.agent, unit)
        bus = await self._connect()
        if unit.restart is not None:
            unit.restart.cancel()
        old = unit.launch
        if old is not None:
            await bus.stop(unit_name(launch.agent))
        while not unit.failed.empty():
            unit.failed.get_nowait()
        await self._start(launch)
        try:
            async with asyncio.timeout(self.start_grace):
                failed = await unit.failed.get()
        except TimeoutError:
            failed = None
        if failed is not None:
            if old is not None:
                await self._start(old)
            raise RuntimeFailure(
                f"{launch.agent} exited with status {failed.exit_status} within "
                f"{self.start_grace:g}s of start ({failed.result})",
                log="\n".join(self.logs(launch.agent, 50)),
            )
        unit.launch = launch
        unit.supervisor.applied()
        unit.restart = asyncio.create_task(self._supervise(launch.agent, unit))

    async def _supervise(self, agent: str, unit: _Unit) -> None:
        """Wait for failures of the running unit; report and restart with backoff."""
        while True:
            failed = await unit.failed.get()
            launch = unit.launch
            if launch is None:
                return
            # A unit's run length is not tracked, so only a new apply resets its backoff.
            report = unit.supervisor.crashed(
                agent, launch.sha, failed.exit_status, self.logs(agent, CRASH_LOG_LINES)
            )
            if self.on_crash is not None:
                await self.on_crash(report)
            if report.restart_in is None:
                return
            await asyncio.sleep(report.restart_in)
            await self._start(launch)
            unit.supervisor.restarted()

    async def stop(self, agent: str) -> None:
        unit = self._unit(agent)
        if unit.restart is not None:
            unit.restart.cancel()
            await asyncio.gather(unit.restart, return_exceptions=True)
            unit.restart = None
        if unit.launch is not None:
            await (await self._connect()).stop(unit_name(agent))
        unit.launch = None
        unit.supervisor.stopped()

    def status(self, agent: str) -> RuntimeStatus:
        unit = self._units.get(agent)
        if unit is None:
            return RuntimeStatus(AgentState.ABSENT)
        state = unit.supervisor.state
        sha = unit.launch.sha if unit.launch and state is AgentState.RUNNING else None
        return RuntimeStatus(state=state, sha=sha, pid=None, restarts=unit.supervisor.restarts)

    async def main_pid(self, agent: str) -> int | None:
        """The unit's MainPID as systemd says it (systemd-nspawn, under the nspawn launcher)."""
        if self.status(agent).state is not AgentState.RUNNING:
            return None
        try:
            return await (await self._connect()).main_pid(unit_name(agent))
        except SystemdError as exc:
            logger.info("no main pid for %s: %s", unit_name(agent), exc.message)
            return None

    def logs(self, agent: str, lines: int) -> list[str]:
        unit = self._units.get(agent)
        if unit is None or unit.launch is None:
            return []
        try:  # its end alone: the agent decides how large it grows
            return read_log(unit.launch.run / "agent.log", lines, None).lines
        except HiveError as exc:
            return [exc.message]

    async def close(self) -> None:
        """Stop every agent's unit, then let go of the bus (tasks first, so no call dangles)."""
        for agent in list(self._units):
            with contextlib.suppress(Exception):
                await self.stop(agent)
        tasks = [t for u in self._units.values() for t in (u.restart, u.watcher) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                logger.warning("%d unit watch task(s) did not end when cancelled", len(stuck))
        await self.launcher.close()
        try:  # a bus peer that went away must not hold the controller's shutdown
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._stack.aclose()
        except TimeoutError:
            logger.warning("the system bus connection did not close within %gs", CLOSE_TIMEOUT)
