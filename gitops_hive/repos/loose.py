"""proposed/'s loose objects, read and checked in Python before libgit2 parses a byte of them.

libgit2 1.9 loops forever inflating a truncated loose object (libgit2 issue 7342) and writes
past a buffer when a loose object's header understates its size (issue 7177); the manager
can write either into proposed/. So a loose object reaches libgit2 only as a body that is a
whole zlib stream of exactly the size its header names, read from a plain file of the repo
(`ConfinedDir`). Its size is read from the header first, from the file's first bytes, and an
object over its cap is refused before its body is inflated.
"""

from __future__ import annotations

import os
import re
import zlib

import pygit2
from pygit2.enums import ObjectType

from gitops_hive.repos.caps import ObjectCaps
from gitops_hive.repos.confined import ConfinedDir, read_at

HEADER_BYTES = 64  # "commit 1234567\0" and the like, with room to spare
HEADER_SOURCE = 4096  # compressed bytes read to find the header
LOOSE_NAME = re.compile("[0-9a-f]{38}")  # git's own temporary files share the folder
KINDS = {
    b"commit": ObjectType.COMMIT,
    b"tree": ObjectType.TREE,
    b"blob": ObjectType.BLOB,
    b"tag": ObjectType.TAG,
}


class LooseObjectError(pygit2.GitError):
    """A loose object that is not what its file claims; raised through libgit2 as it is."""


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


def most_compressed(size: int) -> int:
    """The most bytes a zlib stream of a `size`-byte object can take (stored blocks, headers)."""
    return size + size // 1000 + HEADER_SOURCE


class LooseObjects:
    """Read-only loose objects of an untrusted repo, each checked before libgit2 gets it."""

    def __init__(self, repo: ConfinedDir) -> None:
        self.repo = repo

    def _open(self, hex_id: str) -> int | None:
        return self.repo.open_file(f"objects/{hex_id[:2]}/{hex_id[2:]}")

    def header(self, hex_id: str) -> tuple[ObjectType, int] | None:
        """The kind and size of a loose object from its first bytes, or None: no such object."""
        fd = self._open(hex_id)
        if fd is None:
            return None
        try:
            kind, size, _ = _header(zlib.decompressobj(), read_at(fd, 0, HEADER_SOURCE), hex_id)
        finally:
            os.close(fd)
        return kind, size

    def read(self, hex_id: str, caps: ObjectCaps) -> tuple[ObjectType, bytes] | None:
        """A loose object's kind and body, or None: no such object. Its size is checked
        against `caps` from the header, before the body is inflated."""
        fd = self._open(hex_id)
        if fd is None:
            return None
        try:
            kind, size, _ = _header(zlib.decompressobj(), read_at(fd, 0, HEADER_SOURCE), hex_id)
            caps.check(hex_id, kind, size)
            if os.fstat(fd).st_size > most_compressed(size):
                raise LooseObjectError(f"loose object {hex_id} is longer than its object")
            raw = read_at(fd, 0, most_compressed(size))
        finally:
            os.close(fd)
        return inflate(raw, hex_id)

    def matching(self, prefix: str) -> list[str]:
        """At most two ids of loose objects that start with `prefix` (2 hex digits or more)."""
        found: list[str] = []
        for name in self.repo.names(f"objects/{prefix[:2]}"):
            if name.startswith(prefix[2:]) and LOOSE_NAME.fullmatch(name):
                found.append(prefix[:2] + name)
                if len(found) > 1:  # ambiguous already
                    break
        return found

    def exists(self, hex_id: str) -> bool:
        fd = self._open(hex_id)
        if fd is None:
            return False
        os.close(fd)
        return True
