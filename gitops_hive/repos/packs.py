"""proposed/'s packs, read by the controller itself: libgit2 never opens (or maps) them.

A pack is read through fds of its own plain files (`ConfinedDir`) with pread, never mmap, so
a pack truncated under the controller is a short read, not a SIGBUS. The .idx (version 2) is
searched on disk, so a pack of any size costs no memory to look objects up in. Every entry's
size is read from its header (a delta's result size from the delta's own header) before it
is inflated, and a delta chain is checked from its base up: a small object stored as a delta
of a 1 GiB blob is refused without inflating that base. Chains are at most MAX_DELTA_DEPTH
deep and may only point backwards in the pack (so they end), and bases stay in the pack.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from pygit2.enums import ObjectType

from gitops_hive.repos.caps import ObjectCaps
from gitops_hive.repos.confined import ConfinedDir, read_at
from gitops_hive.repos.deltas import DeltaError, apply_delta, varint

IDX_MAGIC = b"\xfftOc"
FANOUT_END = 8 + 256 * 4
OFS_DELTA, REF_DELTA = 6, 7
MAX_DELTA_DEPTH = 4095  # the deepest git itself packs (50 unless told otherwise)
CHUNK = 1 << 16
CACHE_BYTES = 8 << 20  # inflated delta bases kept per pack while one read lasts
CACHE_OBJECT = 1 << 20


class PackError(DeltaError):
    """A pack or its index that is not what git writes."""


@dataclass(frozen=True)
class Entry:
    """One entry of a pack: its kind (or delta kind), inflated size, where its zlib data
    starts, and a delta's base offset."""

    offset: int
    kind: int
    size: int
    data: int
    base: int | None


class Pack:
    """One pack-*.pack of proposed/ and its .idx, read with pread."""

    def __init__(self, repo: ConfinedDir, stem: str) -> None:
        self.name = f"objects/pack/{stem}.pack"
        self.idx = self.pack = -1
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached = 0
        try:
            idx = repo.open_file(f"objects/pack/{stem}.idx")
            self.idx = -1 if idx is None else idx
            pack = repo.open_file(self.name)
            self.pack = -1 if pack is None else pack
            if self.idx >= 0 and self.pack >= 0:
                self._check()
        except BaseException:
            self.close()
            raise

    @property
    def present(self) -> bool:
        """Whether both files are there (git removes one a moment before the other)."""
        return self.idx >= 0 and self.pack >= 0

    def close(self) -> None:
        for fd in (self.idx, self.pack):
            if fd >= 0:
                os.close(fd)
        self.idx = self.pack = -1

    def _check(self) -> None:
        head = read_at(self.idx, 0, FANOUT_END)
        if len(head) < FANOUT_END or head[:8] != IDX_MAGIC + b"\0\0\0\2":
            raise PackError(f"{self.name}'s index is not a version 2 index; run git repack -a -d")
        self.fanout = struct.unpack(">256I", head[8:])
        if any(a > b for a, b in zip(self.fanout, self.fanout[1:], strict=False)):
            raise PackError(f"{self.name}'s index is corrupt")
        self.count = self.fanout[255]
        extra = os.fstat(self.idx).st_size - (FANOUT_END + self.count * 28 + 40)
        if extra < 0 or extra % 8:
            raise PackError(f"{self.name}'s index is cut short or corrupt")
        self.large = extra // 8
        self.size = os.fstat(self.pack).st_size
        header = read_at(self.pack, 0, 12)
        if len(header) < 12 or header[:4] != b"PACK" or self.size < 32:
            raise PackError(f"{self.name} is not a pack")
        version, count = struct.unpack(">II", header[4:])
        if version not in (2, 3) or count != self.count:
            raise PackError(f"{self.name} does not match its index")

    def _oid(self, index: int) -> bytes:
        raw = read_at(self.idx, FANOUT_END + 20 * index, 20)
        if len(raw) != 20:
            raise PackError(f"{self.name}'s index is cut short")
        return raw

    def _first_at_least(self, raw: bytes) -> int:
        low = self.fanout[raw[0] - 1] if raw[0] else 0
        high = self.fanout[raw[0]]
        while low < high:
            middle = (low + high) // 2
            if self._oid(middle) < raw:
                low = middle + 1
            else:
                high = middle
        return low

    def find(self, raw: bytes) -> int | None:
        """The offset of the object `raw` (20 bytes) in the pack, or None."""
        index = self._first_at_least(raw)
        if index < self.count and self._oid(index) == raw:
            return self._offset(index)
        return None

    def matching(self, prefix: str) -> list[str]:
        """At most two ids in the pack that start with the hex `prefix`."""
        index = self._first_at_least(bytes.fromhex(prefix.ljust(40, "0")))
        found: list[str] = []
        while index < self.count and len(found) < 2:
            hex_id = self._oid(index).hex()
            if not hex_id.startswith(prefix):
                break
            found.append(hex_id)
            index += 1
        return found

    def _number(self, offset: int, size: int) -> int:
        """A big-endian number of the .idx (a short read: the file shrank under us)."""
        raw = read_at(self.idx, offset, size)
        if len(raw) != size:
            raise PackError(f"{self.name}'s index is cut short")
        return int.from_bytes(raw, "big")

    def _offset(self, index: int) -> int:
        table = FANOUT_END + self.count * 24
        value = self._number(table + 4 * index, 4)
        if value & 0x80000000:
            slot = value & 0x7FFFFFFF
            if slot >= self.large:
                raise PackError(f"{self.name}'s index is corrupt")
            value = self._number(FANOUT_END + self.count * 28 + 8 * slot, 8)
        if not 12 <= value < self.size - 20:
            raise PackError(f"{self.name}'s index points outside the pack")
        return value

    def entry(self, offset: int) -> Entry:
        """The entry at `offset`, from its header alone."""
        try:
            return self._entry(offset, read_at(self.pack, offset, 40))
        except IndexError:
            raise PackError(f"{self.name} has a corrupt entry at {offset}") from None

    def _entry(self, offset: int, raw: bytes) -> Entry:
        pos = 1
        kind, size, shift = (raw[0] >> 4) & 7, raw[0] & 15, 4
        byte = raw[0]
        while byte & 0x80:
            if pos >= len(raw) or shift > 60:
                raise PackError(f"{self.name} has a corrupt entry at {offset}")
            byte = raw[pos]
            size |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
        base = None
        if kind == OFS_DELTA:
            byte = raw[pos]
            back = byte & 0x7F
            pos += 1
            while byte & 0x80:
                byte = raw[pos]
                back = ((back + 1) << 7) | (byte & 0x7F)
                pos += 1
            base = offset - back
            if not 12 <= base < offset:
                raise PackError(f"{self.name} has a delta pointing past itself at {offset}")
        elif kind == REF_DELTA:
            base = self.find(raw[pos : pos + 20])
            pos += 20
            if base is None or base == offset:
                raise PackError(f"{self.name} has a delta whose base is not in the pack")
        elif kind not in (1, 2, 3, 4):
            raise PackError(f"{self.name} has an entry of unknown kind at {offset}")
        return Entry(offset, kind, size, offset + pos, base)

    def _inflate(self, entry: Entry, limit: int | None = None) -> bytes:
        """The entry's inflated data: all of it (exactly `size` bytes), or its first `limit`."""
        stream = zlib.decompressobj()
        want = entry.size if limit is None else min(limit, entry.size)
        out = bytearray()
        pos, pending = entry.data, b""
        try:
            while not stream.eof and len(out) < want + (limit is None):
                if not pending:
                    pending = read_at(self.pack, pos, CHUNK)
                    pos += len(pending)
                    if not pending:
                        raise PackError(f"{self.name} is cut short")
                out += stream.decompress(pending, want + 1 - len(out))
                pending = stream.unconsumed_tail
        except zlib.error:
            raise PackError(f"{self.name} has a corrupt entry at {entry.offset}") from None
        if limit is not None:
            return bytes(out[:want])
        if len(out) != entry.size or not stream.eof:
            raise PackError(f"{self.name}'s entry at {entry.offset} is not the size it says")
        return bytes(out)

    def _chain(self, offset: int) -> tuple[list[Entry], Entry]:
        """The deltas from `offset` down to its base (top first), and the base."""
        deltas: list[Entry] = []
        entry = self.entry(offset)
        while entry.base is not None:
            deltas.append(entry)
            if len(deltas) > MAX_DELTA_DEPTH:
                raise PackError(f"{self.name} has a delta chain over {MAX_DELTA_DEPTH} deep")
            entry = self.entry(entry.base)
        return deltas, entry

    def _result_size(self, delta: Entry) -> int:
        head = self._inflate(delta, 20)
        return varint(head, varint(head, 0)[1])[0]

    def header(self, offset: int) -> tuple[ObjectType, int]:
        """The kind and size of the object at `offset`, without inflating it."""
        deltas, base = self._chain(offset)
        size = self._result_size(deltas[0]) if deltas else base.size
        return ObjectType(base.kind), size

    def read(self, offset: int, oid: str, caps: ObjectCaps) -> tuple[ObjectType, bytes]:
        """The object at `offset`: every object of its chain checked against `caps` before
        it is inflated."""
        deltas, base = self._chain(offset)
        kind = ObjectType(base.kind)
        cap = caps.cap(kind)
        caps.check(oid, kind, self._result_size(deltas[0]) if deltas else base.size)
        # Start from the nearest level already inflated by this read, else from the base.
        cached = next((n for n, d in enumerate(deltas) if d.offset in self._cache), None)
        if cached is not None:
            body, deltas = self._cache[deltas[cached].offset], deltas[:cached]
        elif base.offset in self._cache:
            body = self._cache[base.offset]
        else:
            caps.check(oid, kind, base.size, "'s delta base")
            body = self._inflate(base)
            self._remember(base.offset, body)
        for delta in reversed(deltas):
            if delta.size > 2 * cap + 1024:  # a delta's own data is never much over its result
                caps.check(oid, kind, delta.size, "'s delta")
            body = apply_delta(body, self._inflate(delta), cap)
            self._remember(delta.offset, body)
        return kind, body

    def _remember(self, offset: int, body: bytes) -> None:
        if len(body) > CACHE_OBJECT:
            return
        self._cache[offset] = body
        self._cached += len(body)
        while self._cached > CACHE_BYTES:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped)
