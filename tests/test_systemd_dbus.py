"""systemd over D-Bus, against a real systemd: a minimal Debian booted in systemd-nspawn.

The root comes from `debootstrap --variant=minbase --include=systemd,dbus`, made once by
`scripts/debian_root.py` (which `make test` runs) and kept in `.cache/debian-systemd`
(ignored by git). Each test boots it with a throwaway
overlay, its system bus bound to a host folder, and the controller's jeepney code talks to
that bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from pathlib import Path

import pytest

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime.base import (
    AgentLaunch,
    AgentState,
    CrashReport,
    Invocation,
    RuntimeStatus,
)
from gitops_hive.runtime.shell import find_leader, shell_for
from gitops_hive.runtime.supervision import RestartPolicy
from gitops_hive.runtime.systemd_bus import SystemdBus, UnitState, unit_name, watch_failures
from gitops_hive.runtime.units import UnitRuntime

pytestmark = [pytest.mark.dbus, pytest.mark.nspawn]
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "debian-systemd"
BOOTED: dict[str, int] = {}  # bus address -> the booting systemd-nspawn's pid


def need(tool: str) -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "needs root"
    elif shutil.which(tool) is None:
        problem = f"needs {tool}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the D-Bus test {problem}; `make test` as root installs it")
        pytest.skip(problem)


def debian_root() -> Path:
    """The cached minimal Debian with systemd and dbus (`make test` makes it first)."""
    if (CACHE / "lib" / "systemd" / "systemd").exists():
        return CACHE
    need("debootstrap")
    made_by = "`.venv/bin/python scripts/debian_root.py` (run by make test)"
    problem = f"no booted root at {CACHE}: {made_by}"
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[str]:
    """A booted systemd; yields its system bus address."""
    need("systemd-nspawn")
    root = debian_root()
    busdir = tmp_path / "bus"
    busdir.mkdir()
    shared = tmp_path / "shared"  # seen at the same path inside, for agents' logs
    shared.mkdir()
    log = (tmp_path / "boot.log").open("wb")
    machine = f"hive-dbus-{os.getpid()}"
    boot = subprocess.Popen(
        [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--volatile=overlay",
            f"--machine={machine}",
            f"--directory={root}",
            f"--bind={busdir}:/run/dbus",
            f"--bind={shared}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    socket = busdir / "system_bus_socket"
    deadline = time.monotonic() + 60
    while not socket.exists() and time.monotonic() < deadline and boot.poll() is None:
        time.sleep(0.1)
    try:
        assert socket.exists(), (tmp_path / "boot.log").read_text(errors="replace")
        BOOTED[f"unix:path={socket}"] = boot.pid
        yield f"unix:path={socket}"
    finally:
        boot.send_signal(signal.SIGTERM)  # systemd-nspawn asks the container to power off
        try:
            boot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            boot.kill()
            boot.wait()
        log.close()


@pytest.fixture
async def bus(booted: str) -> AsyncIterator[SystemdBus]:
    """A connection to the booted systemd, once it answers on its bus."""
    deadline = time.monotonic() + 30
    while True:
        async with contextlib.AsyncExitStack() as stack:
            try:
                connected = await stack.enter_async_context(SystemdBus.connect(booted))
                await connected.unit_path("dbus.service")
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
                continue
            yield connected
            return


async def test_a_transient_unit_runs_and_its_failure_is_heard(bus: SystemdBus) -> None:
    name = unit_name("worker")
    assert name == "hive-agent-worker.service"
    failures: asyncio.Queue[UnitState] = asyncio.Queue()
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_failures(bus, name, failures.put, ready))
    await ready.wait()
    try:
        await bus.start_transient(
            name,
            ["/bin/sh", "-c", "echo running; sleep 30"],
            description="hive agent worker",
            environment={"HIVE_AGENT": "worker"},
        )
        state = await bus.state(name)
        for _ in range(100):  # the two properties are read one after the other
            if (state.active, state.sub) == ("active", "running"):
                break
            await asyncio.sleep(0.05)
            state = await bus.state(name)
        assert (state.active, state.sub) == ("active", "running")
        await bus.stop(name)

        await bus.start_transient(name, ["/bin/sh", "-c", "exit 3"], description="crashes")
        failed = await asyncio.wait_for(failures.get(), 10)
        assert (failed.active, failed.result, failed.exit_status) == ("failed", "exit-code", 3)

        # The name is reusable after a failure: a restart is a new start of the same unit.
        await bus.start_transient(name, ["/bin/sh", "-c", "exit 5"], description="again")
        again = await asyncio.wait_for(failures.get(), 10)
        assert again.exit_status == 5
    finally:
        watcher.cancel()


async def test_a_refused_call_names_systemds_error(bus: SystemdBus) -> None:
    with pytest.raises(Exception, match="NoSuchUnit"):
        await bus.unit_path("hive-agent-nobody.service")


def launch(tmp_path: Path, sha: str) -> AgentLaunch:
    run = tmp_path / "shared" / "run"
    run.mkdir(exist_ok=True)
    return AgentLaunch(
        agent="worker", sha=sha, tree=run, state=run, run=run, env={"HIVE_AGENT": "worker"}
    )


class ShellLauncher:
    """A shell script per launch: a nested container cannot run here, so units run this."""

    private_users = False

    def __init__(self, script: Callable[[AgentLaunch], str], env: bool = True) -> None:
        self.script = script
        self.env = env

    async def invocation(self, launch: AgentLaunch) -> Invocation:
        env = dict(launch.env) if self.env else {}
        return Invocation(["/bin/sh", "-c", self.script(launch)], env, launch.run)

    async def after_exit(self, launch: AgentLaunch, still_running: Collection[int]) -> None:
        pass

    async def close(self) -> None:
        pass


def shell(script: str) -> ShellLauncher:
    return ShellLauncher(lambda launch: script.replace("SHA", launch.sha))


async def test_the_unit_runtime_applies_reports_and_restarts(
    booted: str, bus: SystemdBus, tmp_path: Path
) -> None:
    crashes: asyncio.Queue[CrashReport] = asyncio.Queue()
    runtime = UnitRuntime(
        booted,
        shell("echo started SHA as $HIVE_AGENT; sleep 1.5; exit 3"),
        start_grace=0.5,
        policy=RestartPolicy(backoff=0.2, backoff_max=1.0),
        on_crash=crashes.put,
    )
    try:
        await runtime.apply(launch(tmp_path, "a" * 40))
        assert runtime.status("worker").state is AgentState.RUNNING
        report = await asyncio.wait_for(crashes.get(), 15)
        assert (report.agent, report.sha, report.returncode) == ("worker", "a" * 40, 3)
        assert report.restart_in == 0.2
        assert "started " + "a" * 40 + " as worker" in "\n".join(report.log_tail)
        again = await asyncio.wait_for(crashes.get(), 15)  # restarted, and crashed again
        assert again.crashes_since_apply == 2
        assert runtime.status("worker").restarts >= 1
        await runtime.stop("worker")
        assert runtime.status("worker").state is AgentState.STOPPED
    finally:
        await runtime.close()


async def test_a_unit_that_fails_at_once_fails_the_deploy_and_keeps_the_old(
    booted: str, bus: SystemdBus, tmp_path: Path
) -> None:
    scripts = {"b" * 40: "echo good; sleep 600", "c" * 40: "echo bad; exit 7"}

    runtime = UnitRuntime(
        booted,
        ShellLauncher(lambda launch: scripts[launch.sha], env=False),
        start_grace=1.0,
        policy=RestartPolicy(backoff=0.2, backoff_max=1.0),
    )
    try:
        await runtime.apply(launch(tmp_path, "b" * 40))
        with pytest.raises(RuntimeFailure, match="status 7"):
            await runtime.apply(launch(tmp_path, "c" * 40))
        state = await bus.state(unit_name("worker"))
        assert (state.active, state.sub) == ("active", "running")  # the good one, again
        assert runtime.status("worker").sha == "b" * 40
    finally:
        await runtime.close()


def ns_pid(pid: int | str) -> list[str]:
    """The pids of a process in each pid namespace it is in, the host's first."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))


def host_pid(boot_pid: int, inside: int) -> int:
    """The host's number of the booted system's pid `inside`. A systemd that is PID 1 and
    the controller share one pid namespace; this booted one numbers its own."""
    init = os.readlink(f"/proc/{find_leader(boot_pid)}/ns/pid")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            numbers = ns_pid(entry.name)
            same = os.readlink(entry / "ns" / "pid") == init
        except OSError:
            continue
        if same and len(numbers) >= 2 and numbers[1] == str(inside):
            return int(entry.name)
    raise AssertionError(f"no host process is pid {inside} of the booted system")


class HostNumbered:
    """The unit runtime with its MainPID in the host's numbering (see host_pid): the one
    step a host whose PID 1 is systemd does not need. Everything else is the runtime's."""

    private_users = True

    def __init__(self, runtime: UnitRuntime, boot_pid: int) -> None:
        self.runtime = runtime
        self.boot_pid = boot_pid

    def status(self, agent: str) -> RuntimeStatus:
        return self.runtime.status(agent)

    async def main_pid(self, agent: str) -> int | None:
        inside = await self.runtime.main_pid(agent)
        return None if inside is None else host_pid(self.boot_pid, inside)


# What stands in for systemd-nspawn in the unit: new user, pid and mount namespaces whose
# pid 1 (the leader) is the child of the unit's main process, as nspawn's is with --as-pid2.
CONTAINER = (
    "mkdir -p /state && echo inside SHA > /state/marker && "
    "exec unshare --user --map-root-user --pid --mount --fork --mount-proc "
    "/bin/sh -c 'while [ ! -e /state/stop ]; do sleep 0.2; done'"
)


@pytest.mark.timeout(240)
async def test_the_terminal_finds_the_leader_through_the_units_main_pid(
    booted: str, bus: SystemdBus, tmp_path: Path
) -> None:
    need("nsenter")
    container = shell(CONTAINER)
    container.private_users = True
    runtime = UnitRuntime(
        booted, container, start_grace=0.5, policy=RestartPolicy(backoff=0.2, backoff_max=1.0)
    )
    try:
        assert await runtime.main_pid("worker") is None  # never started
        await runtime.apply(launch(tmp_path, "d" * 40))
        main = await runtime.main_pid("worker")
        state = await bus.state(unit_name("worker"))
        assert main is not None and state.active == "active"
        numbered = HostNumbered(runtime, BOOTED[booted])
        nspawn = await numbered.main_pid("worker")
        assert nspawn is not None
        assert Path(f"/proc/{nspawn}/cmdline").read_bytes().split(b"\0")[0].endswith(b"unshare")
        leader = find_leader(nspawn)
        assert ns_pid(leader)[-1] == "1" and ns_pid(leader)[1] != "1"

        command = await shell_for(  # type: ignore[arg-type]  # the runtime, host-numbered
            numbered, "worker", tmp_path, ["/bin/sh", "-c", "cat marker; id -u; echo $PWD"]
        )
        assert command.isolated
        done = subprocess.run(  # noqa: ASYNC221 - the test's own wait, nothing else runs
            command.argv,
            env=command.env,
            cwd=command.cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["inside", "d" * 40, "0", "/state"]

        # unshare's parent waits out SIGTERM (systemd-nspawn would power the container off):
        # once the stop is under way, the test has the leader end, as the power-off would.
        stopping = asyncio.create_task(runtime.stop("worker"))
        await asyncio.sleep(0.5)
        Path(f"/proc/{leader}/root/state/stop").write_text("")
        await asyncio.wait_for(stopping, 60)
        assert await runtime.main_pid("worker") is None
        with pytest.raises(Exception, match="is stopped: start it first"):
            await shell_for(runtime, "worker", tmp_path, ["/bin/sh"])
    finally:
        await runtime.close()
