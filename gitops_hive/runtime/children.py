"""Agents as supervised children of the controller; a launcher says what each child runs.

The `process` runtime (a plain command) and the `nspawn` runtime without systemd as PID 1
(`systemd-nspawn` as the child) are both this, with their own launcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime.base import (
    OWN_MOUNT_NAMESPACE,
    AgentLaunch,
    AgentState,
    CrashHandler,
    Launcher,
    RuntimeStatus,
)
from gitops_hive.runtime.supervision import CRASH_LOG_LINES, RestartPolicy, Supervisor

TAIL_LINES = 200
STOP_TIMEOUT = 5.0
RELEASE_WAIT = 1.0  # seconds an exited child's transport is given to close
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


async def exit_status(process: asyncio.subprocess.Process) -> int:
    """Wait for the process itself to exit, not for every holder of its pipes to let go.

    asyncio's wait() also waits for the output pipe to close, which a grandchild (or an
    orphaned container) may hold forever; a pidfd says when the process is gone.
    """
    try:
        fd = os.pidfd_open(process.pid)
    except (ProcessLookupError, AttributeError, OSError):
        return await process.wait()
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await gone
        try:
            # The pidfd is readable: the process has exited, so this returns at once.
            info = os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOWAIT)  # noqa: ASYNC222
        except ChildProcessError:  # the child watcher reaped it first
            info = None
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    if info is None:
        # Rare: the child watcher reaped it first and sets returncode from its own thread.
        while process.returncode is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return process.returncode
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def die_with_parent() -> None:
    """In the child: get SIGTERM when the controller dies, even by kill -9."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class ChildProcess:
    """One run of an agent's command: its launch, process, output tail and exit."""

    launch: AgentLaunch
    process: asyncio.subprocess.Process
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    started: float = field(default_factory=time.monotonic)
    exited: asyncio.Task[int] | None = None


@dataclass
class _Slot:
    """One agent: its current child, its supervision, its pending restart."""

    supervisor: Supervisor
    current: ChildProcess | None = None
    restart_task: asyncio.Task[None] | None = None
    watch_task: asyncio.Task[None] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


async def _release(process: asyncio.subprocess.Process) -> None:
    """Let asyncio's child watcher hand the exit to the process's transport, which closes
    once it has it and the pipe is closed (exit_status learns of the exit first, from the
    pidfd; a transport never closed warns when it is collected). Bounded: a pipe some
    orphan still holds keeps it open."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RELEASE_WAIT):
            await process.wait()


class ChildRuntime:
    """Runs each agent's launch as a child process, restarts it with backoff after a crash."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        start_grace: float,
        policy: RestartPolicy,
        on_crash: CrashHandler | None = None,
    ) -> None:
        self.launcher = launcher
        self.private_users = launcher.private_users
        self.mount_namespace = OWN_MOUNT_NAMESPACE  # children start in ours
        self.start_grace = start_grace
        self.policy = policy
        self.on_crash = on_crash
        self._slots: dict[str, _Slot] = {}
        self._live: dict[str, set[int]] = {}  # pids of each agent's children not yet exited

    def _slot(self, agent: str) -> _Slot:
        return self._slots.setdefault(agent, _Slot(Supervisor(self.policy)))

    async def _spawn(self, launch: AgentLaunch) -> ChildProcess:
        launch.run.mkdir(parents=True, exist_ok=True)
        how = await self.launcher.invocation(launch)
        try:
            process = await asyncio.create_subprocess_exec(
                *how.argv,
                cwd=how.cwd,
                env=how.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot start {how.argv[0]!r}: {exc.strerror}; fix runtime.command in hive.toml",
                log=str(exc),
            ) from exc
        self._live.setdefault(launch.agent, set()).add(process.pid)
        child = ChildProcess(launch, process)
        child.exited = asyncio.create_task(self._run_child(child))
        return child

    async def _pump(self, child: ChildProcess) -> None:
        """Copy the child's output to run/agent.log, keeping a tail in memory."""
        assert child.process.stdout is not None
        log_path = child.launch.run / "agent.log"
        with log_path.open("ab") as log:
            log.write(f"--- start {child.launch.sha} pid {child.process.pid}\n".encode())
            log.flush()
            async for raw in child.process.stdout:
                log.write(raw)
                log.flush()
                child.tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    async def _run_child(self, child: ChildProcess) -> int:
        """Pump the output until the child exits; return its exit status (-N: signal N)."""
        pump = asyncio.create_task(self._pump(child))
        code = await exit_status(child.process)
        await self._after_exit(child)
        _, still_open = await asyncio.wait({pump}, timeout=1.0)
        if still_open:  # something still holds the pipe: stop reading, the exit is what counts
            pump.cancel()
        await _release(child.process)
        return code

    async def _after_exit(self, child: ChildProcess) -> None:
        """End what the agent left running: its whole session, then what the launcher knows of."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        live = self._live.get(child.launch.agent, set())
        live.discard(child.process.pid)
        await self.launcher.after_exit(child.launch, frozenset(live))

    async def _wait_child(self, child: ChildProcess) -> int:
        assert child.exited is not None
        return await asyncio.shield(child.exited)

    async def _terminate(self, child: ChildProcess) -> None:
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self._wait_child(child)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
        await self._wait_child(child)

    async def apply(self, launch: AgentLaunch) -> None:
        """Start the new child; only once it has stayed up `start_grace` s stop the old one."""
        slot = self._slot(launch.agent)
        child = await self._spawn(launch)
        try:
            async with asyncio.timeout(self.start_grace):
                code = await self._wait_child(child)
        except TimeoutError:
            code = None
        if code is not None:
            raise RuntimeFailure(
                f"{launch.agent} exited with status {code} within {self.start_grace:g}s of start",
                log="\n".join(child.tail),
            )
        old = slot.current
        self._cancel_restart(slot)
        slot.current = child
        slot.supervisor.applied()
        slot.watch_task = asyncio.create_task(self._watch(launch.agent, child))
        if old is not None:
            await self._terminate(old)

    def _cancel_restart(self, slot: _Slot) -> None:
        if slot.restart_task is not None:
            slot.restart_task.cancel()
            slot.restart_task = None

    async def _watch(self, agent: str, child: ChildProcess) -> None:
        code = await self._wait_child(child)
        slot = self._slot(agent)
        if slot.current is not child:
            return  # replaced or stopped on purpose
        slot.tail, slot.current = child.tail, None
        report = slot.supervisor.crashed(
            agent,
            child.launch.sha,
            code,
            list(child.tail)[-CRASH_LOG_LINES:],
            started_at=child.started,
        )
        if report.restart_in is not None:
            slot.restart_task = asyncio.create_task(
                self._restart(agent, child.launch, report.restart_in)
            )
        if self.on_crash is not None:
            await self.on_crash(report)

    async def _restart(self, agent: str, launch: AgentLaunch, delay: float) -> None:
        await asyncio.sleep(delay)
        slot = self._slot(agent)
        try:
            child = await self._spawn(launch)
        except RuntimeFailure:
            slot.supervisor.restart_failed()
            return
        slot.current, slot.restart_task = child, None
        slot.supervisor.restarted()
        slot.watch_task = asyncio.create_task(self._watch(agent, child))

    async def stop(self, agent: str) -> None:
        slot = self._slot(agent)
        self._cancel_restart(slot)
        child, slot.current = slot.current, None
        slot.supervisor.stopped()
        if child is not None:
            slot.tail = child.tail
            await self._terminate(child)

    def status(self, agent: str) -> RuntimeStatus:
        slot = self._slots.get(agent)
        if slot is None:
            return RuntimeStatus(AgentState.ABSENT)
        child = slot.current
        return RuntimeStatus(
            state=slot.supervisor.state,
            sha=child.launch.sha if child else None,
            pid=child.process.pid if child else None,
            restarts=slot.supervisor.restarts,
        )

    async def main_pid(self, agent: str) -> int | None:
        status = self.status(agent)
        return status.pid if status.state is AgentState.RUNNING else None

    def logs(self, agent: str, lines: int) -> list[str]:
        slot = self._slots.get(agent)
        if slot is None:
            return []
        tail = slot.current.tail if slot.current else slot.tail
        return list(tail)[-lines:]

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(agent) for agent in list(self._slots)))
        await self.launcher.close()
