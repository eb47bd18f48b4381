"""The object database an untrusted repo is read through: its loose objects and its packs, each
read by the controller and checked against size caps before libgit2 gets a body to parse.

libgit2 calls these methods back holding the GIL; pygit2 releases the GIL only in a revwalk,
blob streams and filters, which nothing reads from proposed/. libgit2 hashes every body it
is handed (strict hash verification), so a file that lies about its id is refused there.
"""

from __future__ import annotations

import re

import pygit2
from pygit2.enums import ObjectType

from gitops_hive.repos.caps import ObjectCaps
from gitops_hive.repos.confined import ConfinedDir
from gitops_hive.repos.loose import LooseObjects
from gitops_hive.repos.packs import Pack, PackError

PACK_STEM = re.compile("pack-[0-9a-f]{40}")
MAX_PACKS = 64  # each holds two fds while a read lasts; git gc keeps a repo at one
MAX_PACK_ENTRIES = 16 * MAX_PACKS  # .idx, .pack, .rev, .keep, .bitmap, temporary files


class ProposedObjects(pygit2.OdbBackend):
    """Read-only objects of an untrusted repo: loose ones first, then its packs."""

    def __init__(self, repo: ConfinedDir, caps: ObjectCaps) -> None:
        super().__init__()
        self.loose = LooseObjects(repo)
        self.caps = caps
        self.packs: list[Pack] = []
        stems: set[str] = set()
        for seen, name in enumerate(repo.names("objects/pack")):
            stem = name.rsplit(".", 1)[0]
            if PACK_STEM.fullmatch(stem):
                stems.add(stem)
            if len(stems) > MAX_PACKS or seen > MAX_PACK_ENTRIES:
                raise PackError(f"objects/pack holds over {MAX_PACKS} packs; run git gc there")
        try:
            for stem in sorted(stems):
                pack = Pack(repo, stem)
                if pack.present:
                    self.packs.append(pack)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for pack in self.packs:
            pack.close()
        self.packs = []

    def _packed(self, oid: pygit2.Oid) -> tuple[Pack, int] | None:
        for pack in self.packs:
            offset = pack.find(oid.raw)
            if offset is not None:
                return pack, offset
        return None

    def expand(self, prefix: str) -> str:
        """The one id starting with the hex `prefix` (KeyError: none; ValueError: several,
        which libgit2 reports as ambiguous)."""
        prefix = prefix.lower()
        if len(prefix) == 40:  # an unsafe entry on the way is refused here, not "absent"
            if not self.loose.exists(prefix) and self._packed(pygit2.Oid(hex=prefix)) is None:
                raise KeyError(prefix)
            return prefix
        found = set(self.loose.matching(prefix))
        for pack in self.packs:
            found.update(pack.matching(prefix))
        if not found:
            raise KeyError(prefix)
        if len(found) > 1:
            raise ValueError(f"sha prefix {prefix} is ambiguous")
        return found.pop()

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        hex_id = str(oid)
        loose = self.loose.read(hex_id, self.caps)
        if loose is not None:
            return int(loose[0]), loose[1]
        packed = self._packed(oid)
        if packed is None:
            raise KeyError(hex_id)
        kind, body = packed[0].read(packed[1], hex_id, self.caps)
        return int(kind), body

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        oid = pygit2.Oid(hex=self.expand(prefix))
        kind, body = self.read_cb(oid)
        return kind, body, oid

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        hex_id = str(oid)
        found: tuple[ObjectType, int] | None = self.loose.header(hex_id)
        if found is None:
            packed = self._packed(oid)
            if packed is None:
                raise KeyError(hex_id)
            found = packed[0].header(packed[1])
        return int(found[0]), found[1]

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        # Never raises: libgit2 reads only a yes or no here, and an exception left set
        # behind a plain answer would surface later as a SystemError.
        try:
            return self.loose.exists(str(oid)) or self._packed(oid) is not None
        except Exception:
            return False

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        return pygit2.Oid(hex=self.expand(prefix))

    def refresh_cb(self) -> None:
        """Nothing is cached between reads: every read goes to the files."""
