"""The `process` runtime: each agent is a supervised child of the controller."""

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
from pathlib import Path
from typing import Any

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime.base import AgentLaunch, CrashHandler, CrashReport

TAIL_LINES = 200
STOP_TIMEOUT = 5.0
STABLE_AFTER = 60.0
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


def _die_with_parent() -> None:
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
    """One agent: its current child, its restart state."""

    current: ChildProcess | None = None
    state: str = "absent"
    restarts: int = 0
    backoff: float = 0.0
    restart_task: asyncio.Task[None] | None = None
    watch_task: asyncio.Task[None] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    applied_at: float = 0.0
    crashes: deque[float] = field(default_factory=deque)
    crashes_since_apply: int = 0


class ProcessRuntime:
    """Runs the configured command per agent, restarts it with backoff after a crash."""

    def __init__(
        self,
        command: list[str],
        *,
        start_grace: float,
        backoff: float,
        backoff_max: float,
        crash_limit: int = 5,
        crash_window: float = 300.0,
        on_crash: CrashHandler | None = None,
    ) -> None:
        self.command = command
        self.start_grace = start_grace
        self.backoff_initial = backoff
        self.backoff_max = backoff_max
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.on_crash = on_crash
        self._slots: dict[str, _Slot] = {}

    def _slot(self, agent: str) -> _Slot:
        return self._slots.setdefault(agent, _Slot())

    async def invocation(self, launch: AgentLaunch) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment and working directory of the agent's process."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(launch.state),
            **launch.env,
            "PYTHONUNBUFFERED": "1",
        }
        return list(self.command), env, launch.state

    async def _spawn(self, launch: AgentLaunch) -> ChildProcess:
        launch.run.mkdir(parents=True, exist_ok=True)
        argv, env, cwd = await self.invocation(launch)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot start {argv[0]!r}: {exc.strerror}; fix runtime.command in hive.toml",
                log=str(exc),
            ) from exc
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
        await self.after_exit(child)
        _, still_open = await asyncio.wait({pump}, timeout=1.0)
        if still_open:  # something still holds the pipe: stop reading, the exit is what counts
            pump.cancel()
        return code

    async def after_exit(self, child: ChildProcess) -> None:
        """End what the agent left running: its whole session."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)

    async def _wait_child(self, child: ChildProcess) -> int:
        assert child.exited is not None
        return await asyncio.shield(child.exited)

    async def _terminate(self, child: ChildProcess) -> None:
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._wait_child(child), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
        await self._wait_child(child)

    async def apply(self, launch: AgentLaunch) -> None:
        """Start the new child; only once it has stayed up `start_grace` s stop the old one."""
        slot = self._slot(launch.agent)
        child = await self._spawn(launch)
        try:
            code = await asyncio.wait_for(self._wait_child(child), self.start_grace)
        except TimeoutError:
            code = None
        if code is not None:
            raise RuntimeFailure(
                f"{launch.agent} exited with status {code} within {self.start_grace:g}s of start",
                log="\n".join(child.tail),
            )
        old = slot.current
        self._cancel_restart(slot)
        slot.current, slot.state, slot.restarts, slot.backoff = child, "running", 0, 0.0
        slot.applied_at, slot.crashes_since_apply = time.monotonic(), 0
        slot.crashes.clear()
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
        slot.tail = child.tail
        if time.monotonic() - child.started > STABLE_AFTER:
            slot.backoff = 0.0
        slot.backoff = min(
            self.backoff_max, slot.backoff * 2 if slot.backoff else self.backoff_initial
        )
        slot.state, slot.current = "crashed", None
        now = time.monotonic()
        slot.crashes.append(now)
        while slot.crashes and now - slot.crashes[0] > self.crash_window:
            slot.crashes.popleft()
        slot.crashes_since_apply += 1
        gave_up = len(slot.crashes) >= self.crash_limit
        report = CrashReport(
            agent,
            child.launch.sha,
            code,
            list(child.tail)[-50:],
            None if gave_up else slot.backoff,
            crashes_recent=len(slot.crashes),
            crashes_since_apply=slot.crashes_since_apply,
            since_apply=now - slot.applied_at,
        )
        if not gave_up:
            slot.restart_task = asyncio.create_task(
                self._restart(agent, child.launch, slot.backoff)
            )
        if self.on_crash is not None:
            await self.on_crash(report)

    async def _restart(self, agent: str, launch: AgentLaunch, delay: float) -> None:
        await asyncio.sleep(delay)
        slot = self._slot(agent)
        try:
            child = await self._spawn(launch)
        except RuntimeFailure:
            slot.state = "crashed"
            return
        slot.current, slot.state, slot.restart_task = child, "running", None
        slot.restarts += 1
        slot.watch_task = asyncio.create_task(self._watch(agent, child))

    async def stop(self, agent: str) -> None:
        slot = self._slot(agent)
        self._cancel_restart(slot)
        child, slot.current = slot.current, None
        slot.state = "stopped"
        if child is not None:
            slot.tail = child.tail
            await self._terminate(child)

    def status(self, agent: str) -> dict[str, Any]:
        slot = self._slots.get(agent)
        if slot is None:
            return {"state": "absent", "sha": None, "pid": None, "restarts": 0}
        child = slot.current
        return {
            "state": slot.state,
            "sha": child.launch.sha if child else None,
            "pid": child.process.pid if child else None,
            "restarts": slot.restarts,
        }

    def logs(self, agent: str, lines: int) -> list[str]:
        slot = self._slots.get(agent)
        if slot is None:
            return []
        tail = slot.current.tail if slot.current else slot.tail
        return list(tail)[-lines:]

    private_users = False

    async def remove(self, agent: str) -> None:
        await self.stop(agent)
        self._slots.pop(agent, None)

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(agent) for agent in list(self._slots)))


def log_file(run_dir: Path) -> Path:
    return run_dir / "agent.log"
