"""How large an object of proposed/ may be before the controller inflates it."""

from __future__ import annotations

from dataclasses import dataclass

from pygit2.enums import ObjectType

from gitops_hive.errors import LimitExceeded


@dataclass(frozen=True)
class ObjectCaps:
    """The largest blob and the largest other object (tree, commit, tag) a read may inflate.

    Every object's size is known from its header (a loose object's first bytes, a packed
    entry's header, a delta's own header) before its body is inflated, so a 1 GiB blob that
    compresses to 1 MB costs a refusal, not 1 GiB of memory.
    """

    blob: int
    other: int

    def cap(self, kind: ObjectType) -> int:
        """The largest object of `kind` a read inflates."""
        return self.blob if kind == ObjectType.BLOB else self.other

    def check(self, oid: str, kind: ObjectType, size: int, part: str = "") -> None:
        """Refuse an object (or `part` of it: its delta, its delta base) over its kind's cap."""
        cap = self.cap(kind)
        if size > cap:
            noun = "file" if kind == ObjectType.BLOB else "object"
            raise LimitExceeded(
                f"{noun} {oid}{part} is {size} bytes, over the {cap} bytes the controller "
                "reads; remove it from the repo's history"
            )


# Reads that name no limit: refs peeled to commits, notes (whose blobs are checked at 4 KiB).
DEFAULT_CAPS = ObjectCaps(blob=1 << 20, other=16 << 20)
