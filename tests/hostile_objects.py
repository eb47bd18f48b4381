"""Objects a hostile manager can write into proposed/ without a 1 GiB file on disk: a blob of
zeros as a loose object or in a pack, and a small blob stored as a delta of it."""

from __future__ import annotations

import functools
import hashlib
import os
import struct
import subprocess
import zlib
from pathlib import Path

from tests.repo_factory import GIT_ENV, git

GIB = 1 << 30
CHUNK = bytes(1 << 20)


@functools.cache
def zeros_stream(size: int, prefix: bytes = b"") -> bytes:
    """zlib data of `prefix` then `size` zero bytes (a multiple of 1 MiB), about 1 KB a GiB:
    each MiB is deflated after a full flush, so its bytes repeat and are made once."""
    assert size % len(CHUNK) == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(prefix + CHUNK) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(CHUNK) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()
    adler = zlib.adler32(prefix)
    for _ in range(size // len(CHUNK)):
        adler = zlib.adler32(CHUNK, adler)
    body = first + again * (size // len(CHUNK) - 1) + end
    return b"\x78\xda" + body + adler.to_bytes(4, "big")


@functools.cache
def zeros_id(size: int) -> str:
    """The id git gives a blob of `size` zero bytes."""
    digest = hashlib.sha1(b"blob %d\0" % size)
    for _ in range(size // len(CHUNK)):
        digest.update(CHUNK)
    return digest.hexdigest()


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_loose_zeros(git_dir: Path, size: int = GIB) -> str:
    """A loose blob of `size` zeros (a few KB on disk); its id."""
    oid = zeros_id(size)
    path = git_dir / "objects" / oid[:2] / oid[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(zeros_stream(size, b"blob %d\0" % size))
    return oid


def _entry_header(kind: int, size: int) -> bytes:
    out = bytearray([(kind << 4) | (size & 15)])
    size >>= 4
    while size:
        out[-1] |= 0x80
        out.append(size & 0x7F)
        size >>= 7
    return bytes(out)


def _ofs(back: int) -> bytes:
    out = [back & 0x7F]
    back >>= 7
    while back:
        back -= 1
        out.append(0x80 | (back & 0x7F))
        back >>= 7
    return bytes(reversed(out))


def _size(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F)
        value >>= 7
        if not value:
            return bytes(out)
        out[-1] |= 0x80


class PackBuilder:
    """A pack written entry by entry, as a hostile manager may: any kind, any delta."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.entries: list[tuple[bytes, bytes, int]] = []  # (oid, raw entry, offset)

    def _add(self, oid: str, raw: bytes) -> int:
        offset = 12 + len(self.body)
        self.body += raw
        self.entries.append((bytes.fromhex(oid), raw, offset))
        return offset

    def blob(self, data: bytes) -> tuple[str, int]:
        """A whole blob; its id and offset."""
        oid = blob_id(data)
        return oid, self._add(oid, _entry_header(3, len(data)) + zlib.compress(data))

    def raw(self, oid: str, kind: int, size: int, stream: bytes) -> int:
        """An entry of any kind and claimed size, its zlib data as given."""
        return self._add(oid, _entry_header(kind, size) + stream)

    def ofs_delta(self, oid: str, base: int, delta: bytes) -> int:
        """`oid` stored as a delta of the entry at offset `base`."""
        here = 12 + len(self.body)
        header = _entry_header(6, len(delta)) + _ofs(here - base)
        return self._add(oid, header + zlib.compress(delta))

    def ref_delta(self, oid: str, base: str, delta: bytes) -> int:
        """`oid` stored as a delta of the object `base`, named by id."""
        header = _entry_header(7, len(delta)) + bytes.fromhex(base)
        return self._add(oid, header + zlib.compress(delta))

    def write(self, git_dir: Path) -> Path:
        """The pack and its version 2 index under objects/pack; the .pack's path."""
        pack = b"PACK" + struct.pack(">II", 2, len(self.entries)) + self.body
        pack += hashlib.sha1(pack).digest()
        entries = sorted(self.entries)
        fanout = [sum(1 for oid, _, _ in entries if oid[0] <= byte) for byte in range(256)]
        idx = b"\xfftOc" + struct.pack(">I", 2) + struct.pack(">256I", *fanout)
        idx += b"".join(oid for oid, _, _ in entries)
        idx += b"".join(struct.pack(">I", zlib.crc32(raw)) for _, raw, _ in entries)
        idx += b"".join(struct.pack(">I", offset) for _, _, offset in entries)
        idx += pack[-20:]
        idx += hashlib.sha1(idx).digest()
        stem = git_dir / "objects" / "pack" / f"pack-{pack[-20:].hex()}"
        stem.parent.mkdir(exist_ok=True)
        stem.with_suffix(".pack").write_bytes(pack)
        stem.with_suffix(".idx").write_bytes(idx)
        return stem.with_suffix(".pack")


def copy_delta(base_size: int, size: int) -> bytes:
    """A delta making `size` bytes copied from the start of a `base_size`-byte base."""
    assert 0 < size < 256
    return _size(base_size) + _size(size) + bytes([0x90, size])


def write_zeros_pack(git_dir: Path, size: int = GIB, small: int = 10) -> tuple[str, str]:
    """A pack (and its .idx) holding a blob of `size` zeros and a blob of `small` zeros
    stored as a delta of it; returns their ids (big, small)."""
    pack = PackBuilder()
    big_id, small_id = zeros_id(size), blob_id(bytes(small))
    big_at = pack.raw(big_id, 3, size, zeros_stream(size))
    pack.ofs_delta(small_id, big_at, copy_delta(size, small))
    pack.write(git_dir)
    return big_id, small_id


def commit_blob(work: Path, name: str, blob: str, message: str = "a big file") -> str:
    """Commit a tree holding only `blob` (already in the repo) as file `name`, on top of main,
    without git reading the blob (git itself loops forever on some hostile packs); return
    the new commit's id."""
    raw_tree = b"100644 " + name.encode() + b"\0" + bytes.fromhex(blob)
    tree = (
        subprocess.run(
            ["git", "-C", str(work), "hash-object", "-t", "tree", "-w", "--stdin"],
            input=raw_tree,
            capture_output=True,
            check=True,
            env={**os.environ, **GIT_ENV},
        )
        .stdout.decode()
        .strip()
    )
    commit = git(work, "commit-tree", tree, "-p", "HEAD", "-m", message)
    git(work, "update-ref", "refs/heads/main", commit)
    return commit
