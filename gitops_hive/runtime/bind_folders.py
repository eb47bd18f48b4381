"""An agent's `[container] binds` on the host (nspawn): one folder per container path under
its `binds/`, made by the controller without following a link and handed to the agent's uid.

systemd-nspawn follows links in a `--bind` source, so a link where a folder belongs would
mount a host path of its choosing. Hence every step is taken from a folder fd opened with
O_NOFOLLOW, and `binds/` must be root's own and writable by root alone: the agent writes
inside its folders, never where they are named, so nothing can swap one for a link between
this check and nspawn's mount.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.layout import AgentLayout, bind_folder_name
from gitops_hive.runtime.base import Bind
from gitops_hive.spec import RESERVED_MOUNTS, bind_problem

FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
BINDS_MODE = 0o700  # root's: the agent never names, moves or replaces its folders
FOLDER_MODE = 0o755


@contextlib.contextmanager
def _folder(name: str | Path, parent: int | None, mode: int, what: str) -> Iterator[int]:
    """An fd on folder `name` (under the fd `parent`), made when missing; never a link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, mode, dir_fd=parent)
    try:
        fd = os.open(name, FOLDER_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise RuntimeFailure(
            f"{what} is not a plain folder ({exc.strerror}): a link or a file stands where "
            "the controller keeps it; remove it and deploy again"
        ) from exc
    try:
        yield fd
    finally:
        os.close(fd)


def make_bind_folders(
    agent: AgentLayout, binds: Sequence[str], uid: int, mounted: Collection[str] = ()
) -> tuple[Bind, ...]:
    """Each bind's host folder, made or checked and owned by `uid` (root inside the agent's
    container), as writable binds; `mounted`: further container paths the runtime mounts."""
    for inside in binds:
        problem = bind_problem(inside, (*RESERVED_MOUNTS, *mounted))
        if problem is not None:
            raise RuntimeFailure(f"[container] binds: {problem}")
    if not binds:
        return ()
    with (
        _folder(agent.dir, None, 0o700, str(agent.dir)) as top,
        _folder(agent.binds.name, top, BINDS_MODE, str(agent.binds)) as parent,
    ):
        info = os.fstat(parent)
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise RuntimeFailure(
                f"{agent.binds} must be the controller's own and writable by it alone "
                f"(owner {info.st_uid}, mode {stat.filemode(info.st_mode)}); "
                f"chown it to root and chmod it {BINDS_MODE:o}"
            )
        for inside in binds:
            name = bind_folder_name(inside)
            with _folder(name, parent, FOLDER_MODE, f"bind {inside}: {agent.binds / name}") as fd:
                held = os.fstat(fd)
                if (held.st_uid, held.st_gid) != (uid, uid):
                    os.fchown(fd, uid, uid)
    return tuple(Bind(agent.bind_folder(inside), inside, writable=True) for inside in binds)
