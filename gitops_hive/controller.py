"""`hivectl serve`: the long-running controller and its start/stop order."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import signal
import time
from pathlib import Path

from aiohttp import web

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import ConfigError, Conflict
from gitops_hive.hive import Hive
from gitops_hive.hook_pings import open_ping_socket
from gitops_hive.init_root import tighten
from gitops_hive.layout import HiveLayout
from gitops_hive.numbers import whole_number
from gitops_hive.watcher import RefWatcher
from gitops_hive.web.agent_sockets import AgentSockets
from gitops_hive.web.app import make_web_app
from gitops_hive.web.control_api import make_control_app
from gitops_hive.web.descriptors import check_open_files
from gitops_hive.web.jsonhttp import serve_unix_socket
from gitops_hive.web.limits import ListenerLimits
from gitops_hive.web.listeners import serve_guarded
from gitops_hive.web.log_throttle import FOREIGN_LOGGERS, THROTTLE, throttle_loggers
from gitops_hive.web.security import Guard, allowed_hosts_for, read_token

log = logging.getLogger(__name__)


def configure_logging(verbose: bool = False) -> None:
    """Timestamped logs on stderr."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    throttle_loggers(THROTTLE, *FOREIGN_LOGGERS)  # a peer can make them write at will


def _lock_root(layout: HiveLayout) -> int:
    """Hold an exclusive lock so two controllers never share a root."""
    layout.run.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(layout.run / "controller.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Conflict(
            f"a controller already runs for {layout.root}: stop it first, or use another --root"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) to a (host, port) pair."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    number = whole_number(port, 65535)
    if not sep or not host or number is None:
        raise ConfigError(f"--listen {value!r} is not HOST:PORT (e.g. 127.0.0.1:8470)")
    return host, number


async def _serve_dashboard(
    hive: Hive, layout: HiveLayout, listen: str, limits: ListenerLimits
) -> tuple[web.AppRunner, str]:
    host, port = parse_listen(listen)
    guard = Guard(read_token(layout.token), token_file=layout.token, sessions=hive.sessions)
    try:
        runner = await serve_guarded(
            make_web_app(hive, guard), limits, runner={}, host=host, port=port
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {listen}: {exc.strerror}; pick another --listen"
        ) from None
    bound_port = int(runner.addresses[0][1]) if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    guard.allowed_hosts.update(allowed_hosts_for(host, bound_port))
    url = f"http://{shown}:{bound_port}/"
    layout.dashboard_url.write_text(url + "\n")
    return runner, url


async def run_controller(
    root: Path,
    *,
    listen: str | None = None,
    runtime: str | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM or SIGINT: converge, watch, serve the control socket and dashboard."""
    layout = HiveLayout(root)
    if not layout.config.exists():
        raise ConfigError(f"{root} is not a hive: run `hivectl --root {root} init` first")
    config = load_config(layout.config)
    if runtime is not None:
        config = config.with_values({"runtime.kind": runtime})
    async with contextlib.AsyncExitStack() as stack:
        lock_fd = _lock_root(layout)
        stack.callback(os.close, lock_fd)
        open_files = check_open_files(config, len(layout.existing_agents()))
        stack.callback(THROTTLE.flush)
        stack.callback(_unlink, layout.control_socket, layout.notify_socket, layout.dashboard_url)
        loosened = tighten(layout)
        if loosened:
            log.warning("hive root: %s were readable by others; now ours alone", loosened)
        repos.isolate_from_user_config(layout.run / "empty-gitconfig")
        hive = await Hive.open(layout, config)
        stack.push_async_callback(hive.close)
        hive.limit_agents(open_files.most_agents)
        sockets = AgentSockets(hive, config)
        stack.push_async_callback(sockets.close)
        stack.callback(hive.release_waiters)
        hive.on_agent_created.append(sockets.open)
        refs_moved = functools.partial(hive.rescan, moved_only=True)
        watcher = RefWatcher(layout, refs_moved)
        hive.watch_agents(watcher.add)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Watching stops first at shutdown (registered again below, last), or where it stands
        # in the stack if the start fails half-way; closing a stack twice does nothing.
        watching = contextlib.AsyncExitStack()
        stack.push_async_callback(watching.aclose)
        pings = await open_ping_socket(layout.notify_socket, refs_moved, watcher.knows)
        watching.callback(pings.close)
        watching.callback(watcher.stop)
        await watcher.start()
        web_limits = ListenerLimits.of(config, "dashboard", "limits.web_connections")
        dashboard, url = await _serve_dashboard(
            hive, layout, listen or config["web.listen"], web_limits
        )
        stack.push_async_callback(dashboard.cleanup)
        control_limits = ListenerLimits.of(config, "control socket", "limits.web_connections")
        runner = await serve_unix_socket(
            make_control_app(hive), layout.control_socket, control_limits
        )
        stack.push_async_callback(runner.cleanup)
        # The API answers from here; the agents' sockets open, then the hive converges
        # (desired state, interrupted builds, rescans) in the background.
        converging = asyncio.create_task(_converge(hive, sockets))
        stack.push_async_callback(_cancel, converging)
        stack.push_async_callback(watching.aclose)
        log.info(
            "controller ready: root %s, control socket %s, %d agents, open files %d of %d",
            root,
            layout.control_socket,
            open_files.agents,
            open_files.needed,
            open_files.limit,
        )
        print(f"gitops-hive controller running for {root}", flush=True)
        print(f"dashboard: {url} (`hivectl token` prints a login URL)", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping")


async def _converge(hive: Hive, sockets: AgentSockets) -> None:
    started = time.monotonic()
    await sockets.open_all()
    await hive.start()
    await sockets.open_all()  # agents adopted at start
    log.info(
        "converged in %.1f s: every agent's socket open, desired state running",
        time.monotonic() - started,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _unlink(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
