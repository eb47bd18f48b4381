"""The runtimes by name (hive.toml's runtime.kind), and the one that config asks for."""

from __future__ import annotations

import logging
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

from gitops_hive.config import HiveConfig
from gitops_hive.errors import HiveError
from gitops_hive.runtime import debian
from gitops_hive.runtime.base import CrashHandler, Runtime
from gitops_hive.runtime.children import ChildRuntime
from gitops_hive.runtime.images import ImageCache
from gitops_hive.runtime.network import HostNetwork
from gitops_hive.runtime.nspawn import ContainerLauncher
from gitops_hive.runtime.process import CommandLauncher
from gitops_hive.runtime.supervision import RestartPolicy
from gitops_hive.runtime.units import UnitRuntime

log = logging.getLogger(__name__)
SYSTEMD_BOOTED = Path("/run/systemd/system")  # present when systemd is PID 1

RuntimeFactory = Callable[[HiveConfig, RestartPolicy, CrashHandler], Runtime]


def process_runtime(config: HiveConfig, policy: RestartPolicy, on_crash: CrashHandler) -> Runtime:
    """runtime.command as a supervised child of the controller."""
    log.warning(
        "runtime.kind = process: agents share the host's network, whatever agent.toml's "
        "[container] network says (the nspawn runtime isolates them)"
    )
    return ChildRuntime(
        CommandLauncher(config.runtime_command),
        start_grace=config["runtime.start_grace"],
        policy=policy,
        on_crash=on_crash,
    )


def nspawn_runtime(config: HiveConfig, policy: RestartPolicy, on_crash: CrashHandler) -> Runtime:
    """runtime.command in a container, supervised by the controller or by systemd."""
    network = HostNetwork(
        IPv4Network(config["nspawn.network_range"]), config["nspawn.uid_pool_start"]
    )
    launcher = ContainerLauncher(config.runtime_command, network)
    start_grace = config["runtime.start_grace"]
    supervisor = config["nspawn.supervisor"]
    if supervisor == "auto":
        supervisor = "systemd" if SYSTEMD_BOOTED.is_dir() else "controller"
    if supervisor == "controller":
        return ChildRuntime(launcher, start_grace=start_grace, policy=policy, on_crash=on_crash)
    return UnitRuntime(
        "SYSTEM", launcher, start_grace=start_grace, policy=policy, on_crash=on_crash
    )


RUNTIMES: dict[str, RuntimeFactory] = {
    "process": process_runtime,
    "nspawn": nspawn_runtime,
}


def make_runtime(config: HiveConfig, on_crash: CrashHandler) -> Runtime:
    """The runtime hive.toml's runtime.kind names."""
    kind = config["runtime.kind"]
    factory = RUNTIMES.get(kind)
    if factory is None:
        raise HiveError(f"runtime {kind!r} is not available")
    policy = RestartPolicy(
        backoff=config["runtime.restart_backoff"],
        backoff_max=config["runtime.restart_backoff_max"],
        crash_limit=config["runtime.crash_limit"],
        crash_window=config["runtime.crash_window"],
    )
    return factory(config, policy, on_crash)


def make_image_cache(config: HiveConfig, default_folder: Path) -> ImageCache | None:
    """Where the nspawn runtime builds and keeps agent images (None: this runtime has none)."""
    if config["runtime.kind"] != "nspawn":
        return None
    folder = Path(config["nspawn.image_cache"] or default_folder)
    return ImageCache(
        folder.expanduser(),
        config["nspawn.mirror"] or debian.host_mirror() or "",
        config["nspawn.suite"] or debian.host_suite() or "",
    )
