"""A proposed/ repo's .git folder read without ever leaving it.

Every path is opened one component at a time from a directory fd, each with O_NOFOLLOW, so a
symlink anywhere (a ref, an objects/xx folder, objects/pack) is refused instead of followed.
A file is looked at (lstat) before it is opened, so a FIFO, a socket or a device is never
opened at all; it is opened with O_NONBLOCK and checked again (fstat, same inode) in case it
was swapped in between; and it is read only as a regular file with one link, so neither a
special file nor a hard link to a file outside the repo is ever read. (A link count cannot
tell a link inside the repo from one outside; git makes such links only in a local clone,
which `git repack -a -d` undoes.) The walk does what openat2's RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS does in one call, and works wherever openat and O_NOFOLLOW do, so the
process runtime on macOS gets it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from gitops_hive.errors import NotFound

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
UNSAFE_ADVICE = (
    "remove that entry: only plain files and folders of the repo's own are read "
    "(`git repack -a -d` undoes a local clone's hard links)"
)


class UnsafeEntry(Exception):
    """Something under .git that is not a plain file or folder of the repo's own."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a file"),
    ):
        if test(mode):
            return name
    return "not a file"


def _check_file(rel: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeEntry(f"{rel} is {_kind(info.st_mode)}; refusing to read it")
    if info.st_nlink > 1:
        raise UnsafeEntry(f"{rel} has {info.st_nlink} hard links; one may point outside the repo")


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a path inside .git: {rel!r}")
    return parts


class ConfinedDir:
    """An open .git folder (or bare repo) whose entries are read only as plain files and
    folders physically inside it. Paths are relative, '/'-separated, never '..'."""

    def __init__(self, path: Path, *, objects_only: bool = False) -> None:
        # objects_only: `path` is an objects folder on its own (a push's quarantine), read
        # as if it were a repo's objects/: "objects/pack" names its pack/.
        self.path = path
        self._strip = "objects/" if objects_only else ""
        try:
            self.fd = os.open(path, DIR_FLAGS)
        except FileNotFoundError:
            raise NotFound(f"no repository at {path.parent}") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafeEntry(
                    f"{path.name} is not a plain folder; refusing to follow it"
                ) from None
            raise

    @classmethod
    def within(cls, outer: ConfinedDir, rel: str, *, objects_only: bool = False) -> ConfinedDir:
        """The folder at `rel` inside `outer`, reached by the same confined walk."""
        fd = outer.open_dir(rel)
        if fd is None:
            raise NotFound(f"no folder {rel} in {outer.path}")
        inner = cls.__new__(cls)
        inner.path = outer.path / rel
        inner.fd = fd
        inner._strip = "objects/" if objects_only else ""
        return inner

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _parts(self, rel: str) -> list[str]:
        if self._strip and rel.startswith(self._strip):
            rel = rel[len(self._strip) :]
        return _parts(rel)

    def _refusal(self, parent: int, name: str, rel: str) -> UnsafeEntry | None:
        """Why the entry `name` could not be opened: a symlink or a special file is refused;
        a plain file where a folder was expected (or the reverse) is only absent."""
        try:
            mode = os.lstat(name, dir_fd=parent).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return None
        return UnsafeEntry(f"{rel} is {_kind(mode)}; refusing to read it")

    def _parent(self, parts: list[str]) -> int | None:
        """An fd of the folder holding the last part (None when a folder on the way is absent);
        the caller closes it."""
        fd = os.dup(self.fd)
        for depth, name in enumerate(parts[:-1]):
            try:
                inner = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                refusal = None
                if not isinstance(exc, FileNotFoundError):
                    refusal = self._refusal(fd, name, "/".join(parts[: depth + 1]))
                os.close(fd)
                if refusal is not None:
                    raise refusal from None
                return None
            os.close(fd)
            fd = inner
        return fd

    def _open(self, rel: str, flags: int) -> int | None:
        parts = self._parts(rel)
        parent = self._parent(parts)
        if parent is None:
            return None
        try:
            return os.open(parts[-1], flags, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError:  # ELOOP: a symlink; ENXIO: a socket; ENOTDIR, EISDIR: the other kind
            refusal = self._refusal(parent, parts[-1], rel)
            if refusal is not None:
                raise refusal from None
            return None
        finally:
            os.close(parent)

    def open_dir(self, rel: str) -> int | None:
        """An fd of the real folder at `rel`, or None when no folder is there."""
        return self._open(rel, DIR_FLAGS)

    def open_file(self, rel: str) -> int | None:
        """An fd of the regular, singly linked file at `rel`, or None when no file is there.

        The entry is looked at before it is opened, so a FIFO or a device is never opened at
        all; what was opened is checked again, in case it was swapped in between."""
        parts = self._parts(rel)
        parent = self._parent(parts)
        if parent is None:
            return None
        try:
            try:
                seen = os.lstat(parts[-1], dir_fd=parent)
            except FileNotFoundError:
                return None
            if stat.S_ISDIR(seen.st_mode):
                return None
            _check_file(rel, seen)
            try:
                fd = os.open(parts[-1], FILE_FLAGS, dir_fd=parent)
            except OSError:
                raise UnsafeEntry(f"{rel} changed while it was opened; refusing it") from None
        finally:
            os.close(parent)
        opened = os.fstat(fd)
        try:
            _check_file(rel, opened)
            if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
                raise UnsafeEntry(f"{rel} changed while it was opened; refusing it")
        except UnsafeEntry:
            os.close(fd)
            raise
        return fd

    def read(self, rel: str, limit: int) -> bytes | None:
        """The bytes of the plain file at `rel` (None when absent); refused when over `limit`."""
        fd = self.open_file(rel)
        if fd is None:
            return None
        try:
            data = read_at(fd, 0, limit + 1)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise UnsafeEntry(f"{rel} is over {limit} bytes")
        return data

    def lexists(self, rel: str) -> bool:
        """Whether anything at all (a symlink included) is at `rel`."""
        parts = self._parts(rel)
        parent = self._parent(parts)
        if parent is None:
            return False
        try:
            os.lstat(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            return False
        finally:
            os.close(parent)
        return True

    def names(self, rel: str) -> Iterator[str]:
        """The entries of the real folder at `rel`, one at a time (none when absent): a folder
        of a million entries costs time, bounded by the read's time limit, not memory."""
        fd = self.open_dir(rel)
        if fd is None:
            return
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    yield entry.name
        finally:
            os.close(fd)


def read_at(fd: int, offset: int, size: int) -> bytes:
    """Up to `size` bytes of a regular file from `offset` (fewer only at its end)."""
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def put_at(
    dir_fd: int, name: str, data: bytes, mode: int, own: Callable[[int], None], temp: str
) -> None:
    """`name` in the folder `dir_fd` becomes a new plain file holding `data`, whole or not at
    all: written as `temp` beside it (made new, no link followed), handed to `own`, given
    `mode`, synced, then renamed over whatever was there (a symlink is replaced, never
    written through)."""
    fd = os.open(temp, NEW_FILE_FLAGS, mode, dir_fd=dir_fd)
    try:
        try:
            left = memoryview(data)
            while left:
                left = left[os.write(fd, left) :]
            own(fd)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)
        raise
