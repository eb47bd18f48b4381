"""One step of an agent image's build: apt's install script of exact names, a script run as
root in a root under nspawn, a private mount namespace, and a step run with each output line
as progress and apt's own error when it fails."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from gitops_hive.errors import RuntimeFailure

Progress = Callable[[str], None]
LOG_LINES = 400  # of a failed build's output, kept for the approval's log
BUILD_ENV = "DEBIAN_FRONTEND=noninteractive"
STOP_TIMEOUT = 10.0  # for a cancelled build step to end before it is killed
APT_EXACT_NAMES = "-o APT::Cmd::Pattern-Only=true"  # a name is a name, never a regex or glob


def install_script(packages: Sequence[str], *, simulate: bool = False) -> str:
    """apt-get install of exactly these validated names (spec.PACKAGE_NAME): apt would
    otherwise take a name it cannot find ("x.term") as a regular expression and install
    every package it matches; `simulate`: only say what it would do."""
    flags = "-s " if simulate else ""
    return f"apt-get install {flags}-q -y --no-install-recommends {APT_EXACT_NAMES} " + " ".join(
        packages
    )


def drop(root: Path, relatives: Sequence[str]) -> None:
    """Remove these files or folders under `root` (a link is removed, never followed)."""
    for relative in relatives:
        path = root / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def private_mounts(argv: list[str]) -> list[str]:
    """argv in a mount namespace of its own: what it mounts goes when it ends."""
    return ["unshare", "--mount", "--propagation", "private", "--", *argv]


def in_container(root: Path, script: str) -> list[str]:
    """A shell script run as root in `root` on the host's network (for apt)."""
    return [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        f"--machine=hive-image-{root.parent.name[:40]}",
        f"--directory={root}",
        "--resolv-conf=copy-host",
        f"--setenv={BUILD_ENV}",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]


async def run_step(argv: list[str], what: str, progress: Progress) -> None:
    """Run a build step, each output line to `progress`; a failure raises apt's own error."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
    assert process.stdout is not None
    try:
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail.append(line)
            progress(line)
        code = await process.wait()
    except BaseException:  # cancelled: nspawn ends its container on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.shield(process.wait())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        raise
    if code:
        errors = [line for line in tail if line.startswith(("E:", "W: Failure", "E "))]
        said = errors[0] if errors else (tail[-1] if tail else f"exit status {code}")
        raise RuntimeFailure(
            f"{what} failed: {said}; check [container] packages in agent.toml",
            log="\n".join(tail),
        )
