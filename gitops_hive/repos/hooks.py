"""The controller's notify hooks written into a proposed/ repo's .git without leaving it.

The manager can write proposed/.git, so anything there may be a planted link. Every write goes
through directory fds opened with O_NOFOLLOW: a new file is made beside its target (O_EXCL,
O_NOFOLLOW) and renamed over it, which replaces a symlink instead of writing through it; a
hooks folder that is a link or a file is removed and made again; the config is edited as a
private copy and put back the same way.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitops_hive.repos.confined import (
    DIR_FLAGS,
    FILE_FLAGS,
    ConfinedDir,
    UnsafeEntry,
    put_at,
    read_at,
)
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.resources import HOOK_NAMES, RETIRED_HOOK_NAMES, hooks_dir

OUR_MARK = b"# gitops-hive:"  # the second line of every hook we ship
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HookWrite:
    """What became of one hook file (or the config): `installed`, `unchanged`, `updated`,
    `replaced` (something that was not ours), `removed` (an older hook of ours no longer
    shipped), and in words why."""

    name: str
    result: str
    detail: str = ""


def _hand_over(fd: int, dir_fd: int) -> None:
    """Give what root made to the owner of the folder it is in (under nspawn the manager's
    uid owns proposed/), so the repo stays the manager's to change."""
    if os.geteuid() == 0:
        folder = os.fstat(dir_fd)
        os.fchown(fd, folder.st_uid, folder.st_gid)


def _replace(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """`name` in the folder `dir_fd` becomes a new plain file holding `data`; whatever was
    there (a symlink included) is replaced, never written through."""
    temp = f".{name}.hive-{secrets.token_hex(6)}"
    put_at(dir_fd, name, data, mode, lambda fd: _hand_over(fd, dir_fd), temp)


def _hooks_fd(git: ConfinedDir) -> tuple[int, str]:
    """An fd of .git/hooks as a real folder; a link or a file in its place is replaced."""
    note = ""
    try:
        mode = os.lstat("hooks", dir_fd=git.fd).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        what = "a symlink" if stat.S_ISLNK(mode) else "not a folder"
        os.unlink("hooks", dir_fd=git.fd)
        note = f".git/hooks was {what}; replaced by a folder"
        mode = None
    if mode is None:
        os.mkdir("hooks", 0o755, dir_fd=git.fd)
    try:
        hooks_fd = os.open("hooks", DIR_FLAGS, dir_fd=git.fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeEntry(".git/hooks was swapped for a link while it was written") from None
        raise
    if mode is None:
        _hand_over(hooks_fd, git.fd)
    return hooks_fd, note


def _carries_mark(text: bytes) -> bool:
    """Whether a hook's text is one we shipped (its second line carries our mark)."""
    second_line = text.split(b"\n", 2)[1] if b"\n" in text else b""
    return second_line.startswith(OUR_MARK)


def _retire(hooks_fd: int, name: str) -> HookWrite | None:
    """Remove an older hook of ours no longer shipped; anything else there is left alone."""
    try:
        mode = os.lstat(name, dir_fd=hooks_fd).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        return None
    fd = os.open(name, FILE_FLAGS, dir_fd=hooks_fd)
    try:
        ours = _carries_mark(read_at(fd, 0, 512))
    finally:
        os.close(fd)
    if not ours:
        return None
    os.unlink(name, dir_fd=hooks_fd)
    return HookWrite(name, "removed", "no longer shipped: the controller sees ref moves itself")


def _was(hooks_fd: int, name: str, data: bytes) -> HookWrite:
    """What writing `data` as hook `name` does to what is there now."""
    try:
        mode = os.lstat(name, dir_fd=hooks_fd).st_mode
    except FileNotFoundError:
        return HookWrite(name, "installed")
    if stat.S_ISLNK(mode):
        return HookWrite(name, "replaced", "was a symlink, replaced by our hook")
    if stat.S_ISDIR(mode):
        raise UnsafeEntry(f".git/hooks/{name} is a folder: remove it, then run this again")
    if not stat.S_ISREG(mode):
        return HookWrite(name, "replaced", "was not a plain file, replaced by our hook")
    fd = os.open(name, FILE_FLAGS, dir_fd=hooks_fd)
    try:
        old = read_at(fd, 0, len(data) + 1)
    finally:
        os.close(fd)
    if old == data and stat.S_IMODE(mode) == 0o755:
        return HookWrite(name, "unchanged")
    if _carries_mark(old):
        return HookWrite(name, "updated", "an older or changed copy of ours")
    return HookWrite(name, "replaced", "was not ours (no gitops-hive mark), replaced by ours")


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return False


def _config(git: ConfinedDir, values: dict[str, str]) -> HookWrite:
    """The repo's config with `values` set, edited as a private copy and put back."""
    linked = _is_link(git.fd, "config")
    old = b"" if linked else git.read("config", MAX_CONFIG_BYTES) or b""
    with tempfile.TemporaryDirectory(prefix="hive-config-") as private:
        path = Path(private) / "config"
        path.write_bytes(old)
        config = pygit2.Config(str(path))
        for key, value in values.items():
            config[key] = value
        del config
        new = path.read_bytes()
    if new == old and not linked:
        return HookWrite("config", "unchanged")
    _replace(git.fd, "config", new, 0o644)
    if linked:
        return HookWrite("config", "replaced", "was a symlink, replaced by a file of our keys")
    return HookWrite("config", "updated", ", ".join(sorted(values)))


@translated("install the hooks", PROPOSED_ADVICE)
def write_hooks(work_tree: Path, agent: str, notify_socket: Path) -> list[HookWrite]:
    """Install the notify hooks in `work_tree`'s .git (a proposed/ repo) and point them at
    the controller: hive.agent and hive.notifySocket in its config. Nothing is written
    outside that .git; RepoUnreadable says why it could not be done."""
    outer = ConfinedDir(work_tree)
    try:
        git = ConfinedDir.within(outer, ".git")
    finally:
        outer.close()
    try:
        hooks_fd, note = _hooks_fd(git)
        done = [HookWrite("hooks", "replaced", note)] if note else []
        try:
            for name in HOOK_NAMES:
                data = (hooks_dir() / name).read_bytes()
                found = _was(hooks_fd, name, data)
                if found.result != "unchanged":
                    _replace(hooks_fd, name, data, 0o755)
                done.append(found)
            done += filter(None, (_retire(hooks_fd, name) for name in RETIRED_HOOK_NAMES))
        finally:
            os.close(hooks_fd)
        done.append(_config(git, {"hive.agent": agent, "hive.notifySocket": str(notify_socket)}))
        return done
    finally:
        git.close()
