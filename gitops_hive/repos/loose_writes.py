"""Objects written into an untrusted proposed/ as loose files, as git writes them: where the
repo already holds so many packs that one more would bring it near the most the controller
reads (a manager that only pushes never runs the `git gc --auto` that folds them)."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import zlib
from collections.abc import Callable, Iterable

from gitops_hive.errors import HiveError
from gitops_hive.repos.confined import DIR_FLAGS, put_at

KIND_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
# Give what the controller made the owner of the folder it lands in.
OwnLike = Callable[[int, os.stat_result], None]


def _fan_out(objects: int, name: str, own_like: OwnLike) -> int:
    """An fd of objects/NAME (made if missing, like git, owned like objects/), never a link."""
    try:
        os.mkdir(name, 0o755, dir_fd=objects)
    except FileExistsError:
        pass
    else:
        made = os.open(name, DIR_FLAGS, dir_fd=objects)
        try:
            own_like(made, os.fstat(objects))
        finally:
            os.close(made)
    try:
        return os.open(name, DIR_FLAGS, dir_fd=objects)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise HiveError(f"objects/{name} in proposed/ is not a folder; remove it") from None
        raise


def _write_one(folder: int, name: str, data: bytes, own_like: OwnLike) -> None:
    """objects/xx/NAME, whole or not at all (an object already there, which has the same
    bytes, is kept)."""
    try:
        if stat.S_ISREG(os.lstat(name, dir_fd=folder).st_mode):
            return
    except FileNotFoundError:
        pass
    temp = f"tmp_obj_hive_{secrets.token_hex(6)}"
    put_at(folder, name, data, 0o444, lambda fd: own_like(fd, os.fstat(folder)), temp)


def write_loose(objects: int, found: Iterable[tuple[int, bytes]], own_like: OwnLike) -> int:
    """Write each (kind, body) under `objects` (an fd of proposed/'s objects/) as a loose
    object; return how many."""
    folders: dict[str, int] = {}
    written = 0
    try:
        for kind, body in found:
            raw = KIND_NAMES[kind] + b" %d\0" % len(body) + body
            sha = hashlib.sha1(raw, usedforsecurity=False).hexdigest()
            folder = folders.get(sha[:2])
            if folder is None:
                folder = folders[sha[:2]] = _fan_out(objects, sha[:2], own_like)
            _write_one(folder, sha[2:], zlib.compress(raw), own_like)
            written += 1
        for folder in folders.values():
            os.fsync(folder)
    finally:
        for folder in folders.values():
            os.close(folder)
    return written
