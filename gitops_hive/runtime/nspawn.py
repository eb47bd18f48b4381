"""The `nspawn` runtime: each agent in its own systemd-nspawn container, unprivileged.

uid 0 inside is the agent's base uid outside (`--private-users=BASE:65536`). The container
sees a root filesystem rendered for its commit: the host's /usr read-only, the package's
Python environment read-only, its pinned tree at /agent, its state at /state and its broker
socket's folder at /run/hive. Nothing else of the host: by default not its network either
(agent.toml's `[container] network`; `network.py` for outbound). This module only builds the
container (a launcher); supervision is the runtime's that takes it: `children.ChildRuntime`
running `systemd-nspawn --register=no --keep-unit` without systemd as PID 1,
`units.UnitRuntime` with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import stat
import sys
from collections.abc import Collection
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.protocol import CONTAINER_SOCKET, ENV_SOCKET, ENV_STATE, ENV_TREE
from gitops_hive.resources import PACKAGE_DIR, prompts_dir
from gitops_hive.runtime.base import AgentLaunch, Invocation
from gitops_hive.runtime.network import HostNetwork, container_command, resolv_conf
from gitops_hive.settings import UID_RANGE
from gitops_hive.spec import NetworkMode

log = logging.getLogger(__name__)
NSPAWN = "systemd-nspawn"
CONTAINER_STATE = "/state"
CONTAINER_TREE = "/agent"
CONTAINER_SOCKET_DIR = "/run/hive"
MERGED_USR = ("bin", "sbin", "lib", "lib64")
MOUNT_POINTS = ("usr", "etc", "state", "agent", "run", "proc", "sys", "dev", "tmp", "var/tmp")
STATE_MODE = 0o755  # an agent's state folder: its own to write, the manager's to read
HOST_READ_ONLY = ("/etc/ssl", "/etc/ca-certificates", "/etc/alternatives")
HOST_RESOLV_CONF = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))


def python_binds() -> list[Path]:
    """What the harness needs of this host's Python outside /usr: interpreter, venv, package."""
    wanted = {Path(sys.base_prefix), Path(sys.prefix), PACKAGE_DIR, prompts_dir()}
    resolved = {p.resolve() for p in wanted if p.exists()}
    paths = sorted(p for p in resolved if not p.is_relative_to("/usr"))
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def chown_tree(root: Path, uid: int) -> list[str]:
    """lchown every entry under `root` to uid:uid without following a link; return skips.

    A regular file with more than one link is left alone: it may be a hard link to a file
    elsewhere on the host, which must not change owner.
    """
    skipped: list[str] = []
    top = os.lstat(root)
    if stat.S_ISLNK(top.st_mode) or not stat.S_ISDIR(top.st_mode):
        raise RuntimeFailure(f"{root} is not a plain folder; refusing to hand it to the agent")
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                skipped.append(path)
                continue
            if (info.st_uid, info.st_gid) != (uid, uid):
                os.lchown(path, uid, uid)
    if (top.st_uid, top.st_gid) != (uid, uid):
        os.lchown(root, uid, uid)
    return skipped


def render_rootfs(target: Path, network: NetworkMode = NetworkMode.OUTBOUND) -> None:
    """A minimal root: mount points, merged-/usr links and an /etc of our own."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, mode=0o755)
    for point in MOUNT_POINTS:
        (target / point).mkdir(parents=True, exist_ok=True)
    (target / "tmp").chmod(0o1777)
    for name in MERGED_USR:
        if Path("/usr", name).is_dir():
            (target / name).symlink_to(f"usr/{name}")
    etc = target / "etc"
    os_release = Path("/etc/os-release")
    if not os_release.exists():
        os_release = Path("/usr/lib/os-release")
    (etc / "os-release").write_bytes(os_release.read_bytes())
    (etc / "passwd").write_text(
        "root:x:0:0:agent:/state:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    )
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (etc / "hostname").write_text("hive-agent\n")
    (etc / "hosts").write_text("127.0.0.1 localhost hive-agent\n::1 localhost\n")
    if network is not NetworkMode.NONE:
        (etc / "resolv.conf").write_text(container_resolv_conf(network))


def container_resolv_conf(network: NetworkMode) -> str:
    """The host's resolvers; an outbound container cannot reach those on the host's loopback,
    so it gets systemd-resolved's upstream list when the host's own names only a local stub."""
    texts = [path.read_text(errors="replace") for path in HOST_RESOLV_CONF if path.is_file()]
    if network is NetworkMode.HOST:
        return texts[0] if texts else ""
    return resolv_conf(texts)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, real uid, pid namespace) of every process we can see."""
    found: dict[int, tuple[int, int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
            namespace = os.readlink(os.path.join(entry.path, "ns", "pid"))
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        found[int(entry.name)] = (
            int(fields["PPid"].split()[0]),
            int(fields["Uid"].split()[0]),
            namespace,
        )
    return found


def kill_orphans(base: int, live_roots: set[int]) -> int:
    """SIGKILL processes in uids [base, base+65536) outside the containers still running.

    A container whose systemd-nspawn was killed outright keeps running, orphaned; the uid
    range is the agent's alone, and the pid namespaces under a live systemd-nspawn of the
    same agent (a new deploy starting while the old one stops) are left alone.
    """
    table = _processes()
    protected: set[str] = set()
    for pid, (_, _, namespace) in table.items():
        walker, hops = pid, 0
        while walker in table and hops < 64:
            if walker in live_roots:
                protected.add(namespace)
                break
            walker, hops = table[walker][0], hops + 1
    killed = 0
    for pid, (_, uid, namespace) in table.items():
        if base <= uid < base + UID_RANGE and namespace not in protected:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


class ContainerLauncher:
    """Runs runtime.command inside `systemd-nspawn`, under the agent's own uid range."""

    private_users = True

    def __init__(self, command: list[str], network: HostNetwork) -> None:
        self.command = command
        self.network = network
        self.nspawn = shutil.which(NSPAWN)

    async def after_exit(self, launch: AgentLaunch, still_running: Collection[int]) -> None:
        """End what a container killed outright left in the agent's uid range."""
        if launch.uid_base is not None:
            killed = await asyncio.to_thread(kill_orphans, launch.uid_base, set(still_running))
            if killed:
                log.warning(
                    "agent %s: ended %d process(es) its container left behind",
                    launch.agent,
                    killed,
                )

    def _prepare(self, launch: AgentLaunch) -> Path:
        if self.nspawn is None:
            raise RuntimeFailure(
                f"{NSPAWN} is not installed: apt install systemd-container, or use "
                'runtime.kind = "process"'
            )
        if os.geteuid() != 0:
            raise RuntimeFailure("the nspawn runtime needs root (it maps each agent's uids)")
        if launch.uid_base is None:
            raise RuntimeFailure(f"{launch.agent} has no uid range; this is a controller bug")
        rootfs = launch.run / "rootfs" / launch.sha
        render_rootfs(rootfs, launch.network)
        skipped = chown_tree(launch.state, launch.uid_base)
        launch.state.chmod(STATE_MODE)  # the manager's container reads it as 'other'
        for bind in launch.binds:
            if bind.hand_over:
                skipped += chown_tree(bind.host, launch.uid_base)
        for path in skipped:
            log.warning(
                "agent %s: left %s as it is (a file with several links)", launch.agent, path
            )
        return rootfs

    async def invocation(self, launch: AgentLaunch) -> Invocation:
        """Render the container's root, hand the state over, and build the nspawn command."""
        rootfs = await asyncio.to_thread(self._prepare, launch)
        assert self.nspawn is not None and launch.uid_base is not None
        socket_dir = launch.run / "hive"
        env = {
            "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": CONTAINER_STATE,
            **launch.env,
            ENV_TREE: CONTAINER_TREE,
            ENV_STATE: CONTAINER_STATE,
            ENV_SOCKET: str(CONTAINER_SOCKET),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        argv = [
            self.nspawn,
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--as-pid2",
            "--console=pipe",
            f"--machine=hive-{launch.agent}-{launch.sha[:12]}",
            f"--private-users={launch.uid_base}:65536",
            "--private-users-ownership=chown",
            f"--directory={rootfs}",
            "--bind-ro=/usr",
            f"--bind-ro={launch.tree}:{CONTAINER_TREE}",
            f"--bind={launch.state}:{CONTAINER_STATE}",
            f"--bind={socket_dir}:{CONTAINER_SOCKET_DIR}",
            f"--chdir={CONTAINER_STATE}",
        ]
        argv += [
            f"--bind{'' if bind.writable else '-ro'}={bind.host}:{bind.inside}"
            for bind in launch.binds
        ]
        argv += [f"--bind-ro={path}" for path in python_binds()]
        argv += [f"--bind-ro={path}" for path in HOST_READ_ONLY if Path(path).is_dir()]
        argv += [f"--setenv={key}={value}" for key, value in sorted(env.items())]
        command = self.command
        if launch.network is NetworkMode.NONE:
            argv.append("--private-network")  # loopback only
        elif launch.network is NetworkMode.OUTBOUND:
            attach = await self.network.attach(launch.agent, launch.uid_base)
            argv.append(f"--network-bridge={attach.bridge}")  # implies its own namespace
            command = container_command(attach, command)
        else:
            log.warning("agent %s runs on the host's network ([container] network)", launch.agent)
        argv += ["--", *command]
        return Invocation(argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, launch.run)

    async def close(self) -> None:
        """Undo the outbound agents' bridges and nft table."""
        await self.network.close()
