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


def write_zeros_pack(git_dir: Path, size: int = GIB, small: int = 10) -> tuple[str, str]:
    """A pack (and its .idx) holding a blob of `size` zeros and a blob of `small` zeros
    stored as a delta of it; returns their ids (big, small)."""
    big_id, small_id = zeros_id(size), blob_id(bytes(small))
    delta = _size(size) + _size(small) + bytes([0x90, small])  # copy `small` bytes from 0
    first = _entry_header(3, size) + zeros_stream(size)
    second_at = 12 + len(first)
    second = _entry_header(6, len(delta)) + _ofs(second_at - 12) + zlib.compress(delta)
    pack = b"PACK" + struct.pack(">II", 2, 2) + first + second
    pack += hashlib.sha1(pack).digest()
    entries = sorted(
        [(bytes.fromhex(big_id), first, 12), (bytes.fromhex(small_id), second, second_at)]
    )
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
    return big_id, small_id


def commit_blob(work: Path, name: str, blob: str, message: str = "a big file") -> str:
    """Commit `blob` (already in the repo) as file `name` on top of main, the way the git CLI
    would if the file were on disk; return the new commit's id."""
    tree = git(work, "rev-parse", "HEAD^{tree}")
    listing = git(work, "ls-tree", tree)
    entries = (
        f"{listing}\n100644 blob {blob}\t{name}\n" if listing else f"100644 blob {blob}\t{name}\n"
    )
    new_tree = _mktree(work, entries)
    commit = git(work, "commit-tree", new_tree, "-p", "HEAD", "-m", message)
    git(work, "update-ref", "refs/heads/main", commit)
    return commit


def _mktree(work: Path, entries: str) -> str:
    return subprocess.run(
        ["git", "-C", str(work), "mktree", "--missing"],
        input=entries,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()
