"""proposed/'s loose objects, read and checked in Python before libgit2 parses a byte of them.

libgit2 1.9 loops forever inflating a truncated loose object (libgit2 issue 7342) and writes
past a buffer when a loose object's header understates its size (issue 7177); the manager
can write either into proposed/. So an untrusted repo gets an object database of its own:
its packs through libgit2's pack backend, its loose objects through `LooseObjects`, which
hands libgit2 only bodies that are a whole zlib stream of exactly the size their header
names, read from a regular file (never a symlink or a FIFO). libgit2 still checks that the
body hashes to the id asked for.

libgit2 calls these methods back holding the GIL; pygit2 releases the GIL only in a revwalk,
blob streams and filters, which nothing reads from proposed/.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import stat
import tempfile
import threading
import zlib
from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from gitops_hive.errors import HiveError

HEADER_BYTES = 64  # "commit 1234567\0" and the like, with room to spare
KINDS = {
    b"commit": ObjectType.COMMIT,
    b"tree": ObjectType.TREE,
    b"blob": ObjectType.BLOB,
    b"tag": ObjectType.TAG,
}
LOOSE_PRIORITY = 3  # before libgit2's own backends (packs 2, loose 1), which find none


class LooseObjectError(pygit2.GitError):
    """A loose object that is not what its file claims; raised through libgit2 as it is."""


def _read_file(path: Path) -> bytes:
    """A loose object's compressed bytes; KeyError when there is no such object."""
    name = path.parent.name + path.name
    # O_NONBLOCK: opening a FIFO must not wait for a writer that never comes.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise KeyError(name) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LooseObjectError(f"loose object {name} is a symlink") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LooseObjectError(f"loose object {name} is not a file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _header(stream: zlib._Decompress, raw: bytes, name: str) -> tuple[ObjectType, int, bytes]:
    """The object's kind, its declared size, and the body bytes inflated with the header."""
    try:
        start = stream.decompress(raw, HEADER_BYTES)
    except zlib.error:
        raise LooseObjectError(f"loose object {name} is not zlib data") from None
    header, nul, rest = start.partition(b"\0")
    kind_name, _, size_text = header.partition(b" ")
    kind = KINDS.get(kind_name)
    if not nul or kind is None or not size_text.isdigit() or len(size_text) > 18:
        raise LooseObjectError(f"loose object {name} has no valid header")
    return kind, int(size_text), rest


def inflate(raw: bytes, name: str) -> tuple[ObjectType, bytes]:
    """A loose object's kind and body, refused unless the stream is whole and the body is
    exactly as long as the header says."""
    stream = zlib.decompressobj()
    kind, size, body = _header(stream, raw, name)
    try:
        body += stream.decompress(stream.unconsumed_tail, max(size - len(body), 0) + 1)
    except zlib.error:
        raise LooseObjectError(f"loose object {name} is corrupt") from None
    if len(body) > size or stream.unconsumed_tail:
        raise LooseObjectError(f"loose object {name} is longer than the {size} bytes it claims")
    if len(body) < size or not stream.eof:
        raise LooseObjectError(f"loose object {name} is truncated")
    return kind, body


class LooseObjects(pygit2.OdbBackend):
    """Read-only loose objects of an untrusted repo, each checked before libgit2 gets it."""

    def __init__(self, objects: Path) -> None:
        super().__init__()
        self.objects = objects

    def _path(self, hex_id: str) -> Path:
        return self.objects / hex_id[:2] / hex_id[2:]

    def _matching(self, prefix: str) -> str:
        """The one loose object whose id starts with `prefix` (KeyError: none; ValueError:
        several, which libgit2 reports as ambiguous)."""
        folder = self.objects / prefix[:2]
        try:
            names = [e.name for e in os.scandir(folder) if e.name.startswith(prefix[2:])]
        except (FileNotFoundError, NotADirectoryError):
            names = []
        if not names:
            raise KeyError(prefix)
        if len(names) > 1:
            raise ValueError(f"sha prefix {prefix} is ambiguous")
        return prefix[:2] + names[0]

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        hex_id = str(oid)
        kind, body = inflate(_read_file(self._path(hex_id)), hex_id)
        return int(kind), body

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        hex_id = self._matching(prefix)
        kind, body = self.read_cb(pygit2.Oid(hex=hex_id))
        return kind, body, pygit2.Oid(hex=hex_id)

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        hex_id = str(oid)
        kind, size, _ = _header(zlib.decompressobj(), _read_file(self._path(hex_id)), hex_id)
        return int(kind), size

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        # Never raises: libgit2 reads only a yes or no here, and an exception left set
        # behind a plain answer would surface later as a SystemError.
        try:
            return stat.S_ISREG(os.lstat(self._path(str(oid))).st_mode)
        except (OSError, ValueError):
            return False

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        return pygit2.Oid(hex=self._matching(prefix))

    def refresh_cb(self) -> None:
        """Nothing is cached here: every read goes to the file."""


class PackViews:
    """Per objects folder, a folder of ours whose only entry is `pack`, a link to the repo's
    objects/pack. libgit2 opened on it reads the repo's packs, and its own loose backend finds
    no loose object to read behind `LooseObjects`' back. (A pack backend made through pygit2
    instead leaks its wrapper on every open.) The views live under the hive's run/ folder
    (`place`), or a temporary folder when nothing placed them (tests, tools)."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._views: dict[Path, Path] = {}
        self._lock = threading.Lock()

    def place(self, root: Path) -> None:
        """Keep the views under `root` (emptied first: views of an earlier run are stale)."""
        with self._lock:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(mode=0o700, parents=True)
            self._root, self._views = root, {}

    def view(self, objects: Path) -> Path:
        pack = objects / "pack"
        if os.path.islink(pack):
            raise HiveError(f"{pack} is a symlink; refusing to follow it")
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="hive-packs-"))
                atexit.register(shutil.rmtree, self._root, ignore_errors=True)
            found = self._views.get(objects)
            if found is None:
                found = self._root / str(len(self._views))
                self._views[objects] = found
            if not os.path.lexists(found / "pack"):  # new, or removed under us: (re)make it
                found.mkdir(mode=0o700, parents=True, exist_ok=True)
                (found / "pack").symlink_to(pack)
            return found


PACK_VIEWS = PackViews()


def untrusted_odb(git_dir: Path) -> pygit2.Odb:
    """The object database an untrusted repo is read through: its packs, its checked loose
    objects, and nothing it borrows from elsewhere."""
    objects = git_dir / "objects"
    odb = pygit2.Odb(str(PACK_VIEWS.view(objects)))
    odb.add_backend(LooseObjects(objects), LOOSE_PRIORITY)
    return odb
