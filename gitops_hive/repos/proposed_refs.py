"""proposed/'s refs, read by the controller itself: a loose ref file, else packed-refs.

libgit2 is never pointed at proposed/ (it would open HEAD, config, packed-refs and refs/**
as it likes); the few refs the controller asks for by name are read here through
`ConfinedDir`, a symbolic ref followed at most MAX_SYMREF_DEPTH times, packed-refs streamed
line by line so its size costs no memory.
"""

from __future__ import annotations

import re

from gitops_hive.repos.confined import ConfinedDir

HEX_SHA = re.compile("[0-9a-f]{40}")
REF_PART = re.compile(r"[^\x00-\x20\x7f~^:?*\[\\]+")
MAX_SYMREF_DEPTH = 5  # as git
MAX_REF_BYTES = 4096
MAX_LINE = 4096


class MalformedRef(ValueError):
    """A ref file or packed-refs line that is not what git writes."""


def valid_ref_name(name: str) -> bool:
    """git's rules for a ref name (check-ref-format), as far as a path is concerned."""
    parts = name.split("/")
    return (
        len(parts) >= 2
        and parts[0] == "refs"
        and "@{" not in name
        and not name.endswith(".")
        and all(
            REF_PART.fullmatch(part)
            and not part.startswith(".")
            and not part.endswith(".lock")
            and ".." not in part
            for part in parts
        )
    )


class ProposedRefs:
    """Refs of an untrusted repo, looked up by name."""

    def __init__(self, repo: ConfinedDir) -> None:
        self.repo = repo

    def target(self, name: str) -> str | None:
        """The sha a ref names, through symbolic refs; None when there is no such ref (or
        `name` is no ref name at all)."""
        if not valid_ref_name(name):
            return None
        for _ in range(MAX_SYMREF_DEPTH + 1):
            data = self.repo.read(name, MAX_REF_BYTES)
            if data is None:
                return self._packed(name)
            line = data.decode("ascii", "replace").rstrip("\n")
            if HEX_SHA.fullmatch(line):
                return line
            pointed = line.removeprefix("ref: ").strip()
            if not line.startswith("ref: ") or not valid_ref_name(pointed):
                raise MalformedRef(f"{name} holds neither a sha nor a ref")
            name = pointed
        raise MalformedRef(f"symbolic refs nest over {MAX_SYMREF_DEPTH} deep at {name}")

    def _packed(self, name: str) -> str | None:
        fd = self.repo.open_file("packed-refs")
        if fd is None:
            return None
        wanted = name.encode()
        with open(fd, "rb", closefd=True) as lines:
            for number, line in enumerate(iter(lambda: lines.readline(MAX_LINE), b""), 1):
                if line.startswith((b"#", b"^")):  # the header; a peeled tag's target
                    continue
                sha, _, ref = line.rstrip(b"\n").partition(b" ")
                if not HEX_SHA.fullmatch(sha.decode("ascii", "replace")) or not ref:
                    raise MalformedRef(f"packed-refs line {number} is malformed")
                if ref == wanted:
                    return sha.decode()
        return None
