"""Validation of a pinned proposal: its tree's paths, depth and sizes, and its agent.toml."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from gitops_hive.spec import SPEC_FILE, AgentSpec, Problem, validate_spec


class EntryKind(Enum):
    """What a tree entry is, as git records it."""

    FILE = "file"
    EXECUTABLE = "executable"
    SYMLINK = "symlink"
    SUBMODULE = "submodule"


@dataclass(frozen=True)
class TreeEntry:
    """One non-tree entry of a commit's tree, its path as raw bytes."""

    path: bytes
    kind: EntryKind
    size: int


class TreeCut(Enum):
    """Why the walk of a tree stopped before its end: a limit was passed."""

    DEPTH = "depth"
    FILES = "files"


@dataclass(frozen=True)
class TreeListing:
    """A commit's non-tree entries in path order, as far as the walk went; `cut` says why it
    stopped early, if it did."""

    entries: tuple[TreeEntry, ...]
    cut: TreeCut | None = None


DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    """Size limits from hive.toml's [limits]."""

    max_file_bytes: int
    max_tree_bytes: int
    max_files: int
    max_depth: int = DEFAULT_MAX_DEPTH


FORBIDDEN_COMPONENTS = frozenset({b"", b".", b".."})
# What a filesystem takes (NAME_MAX), and a path that stays well under PATH_MAX wherever the
# tree is written: past either, writing the tree fails, so the commit could never run.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024


def _path_problem(path: bytes) -> str | None:
    if path.startswith(b"/"):
        return "absolute path"
    parts = path.split(b"/")
    if any(part in FORBIDDEN_COMPONENTS for part in parts):
        return "path with an empty, '.' or '..' component"
    if any(part.lower().rstrip(b". ") in (b".git", b"git~1") for part in parts):
        return "path inside a '.git' folder"
    if any(byte < 0x20 or byte == 0x7F for byte in path):
        return "path with a control character"
    if b"\\" in path:
        return "path with a backslash"
    if any(len(part) > MAX_NAME_BYTES for part in parts):
        return f"a file or folder name over {MAX_NAME_BYTES} bytes"
    if len(path) > MAX_PATH_BYTES:
        return f"path over {MAX_PATH_BYTES} bytes"
    return None


def shown_path(path: bytes) -> str:
    """A path fit for a message: undecodable bytes become U+FFFD."""
    return path.decode("utf-8", errors="replace")


def _clashes(entries: Sequence[TreeEntry]) -> list[Problem]:
    """A path listed twice, or a file that is also a folder of another path (a hand-made
    tree can hold both): either would make writing the tree fail."""
    problems: list[Problem] = []
    seen: set[bytes] = set()
    for entry in entries:
        if entry.path in seen:
            problems.append(Problem(shown_path(entry.path), None, None, "path listed twice"))
        seen.add(entry.path)
    both: set[bytes] = set()
    for entry in entries:
        parts = entry.path.split(b"/")
        folders = (b"/".join(parts[:end]) for end in range(1, len(parts)))
        both.update(folder for folder in folders if folder in seen)
    problems += [
        Problem(shown_path(path), None, None, "path is both a file and a folder")
        for path in sorted(both)
    ]
    return problems


def _shape(entries: Sequence[TreeEntry], limits: Limits, cut: TreeCut | None) -> list[Problem]:
    """Depth and file count, each naming the setting that limits it."""
    problems: list[Problem] = []
    deepest = max((entry.path.count(b"/") for entry in entries), default=0)
    if cut is TreeCut.DEPTH or deepest > limits.max_depth:
        problems.append(
            Problem(
                "/",
                None,
                None,
                f"folders nested more than {limits.max_depth} deep; "
                f"the limit is limits.max_depth = {limits.max_depth}",
            )
        )
    if cut is TreeCut.FILES:
        count = f"more than {limits.max_files} files or folders"
    elif len(entries) > limits.max_files:
        count = f"{len(entries)} files"
    else:
        return problems
    problems.append(
        Problem("/", None, None, f"{count}; the limit is limits.max_files = {limits.max_files}")
    )
    return problems


def validate_tree(
    entries: Sequence[TreeEntry], limits: Limits, cut: TreeCut | None = None
) -> list[Problem]:
    """Every path safe and written once, no symlink or submodule, depth, count and sizes within
    the limits; `cut`: the listing stopped at a limit (`TreeListing.cut`)."""
    problems: list[Problem] = []
    total = 0
    for entry in entries:
        name = shown_path(entry.path)
        reason = _path_problem(entry.path)
        if reason:
            problems.append(Problem(name, None, None, f"unsafe path: {reason}"))
        if entry.kind is EntryKind.SYMLINK:
            problems.append(Problem(name, None, None, "symlinks are not allowed; commit the file"))
        elif entry.kind is EntryKind.SUBMODULE:
            problems.append(Problem(name, None, None, "submodules are not allowed"))
        if entry.size > limits.max_file_bytes:
            problems.append(
                Problem(
                    name,
                    None,
                    None,
                    f"file is {entry.size} bytes; the limit is {limits.max_file_bytes}",
                )
            )
        total += entry.size
    problems += _clashes(entries)
    problems += _shape(entries, limits, cut)
    if total > limits.max_tree_bytes:
        problems.append(
            Problem("/", None, None, f"tree is {total} bytes; the limit is {limits.max_tree_bytes}")
        )
    return problems


def validate_proposal(
    entries: Sequence[TreeEntry],
    spec_text: bytes | None,
    limits: Limits,
    cut: TreeCut | None = None,
) -> tuple[AgentSpec | None, list[Problem]]:
    """The whole check run at submission: tree first, then agent.toml."""
    problems = validate_tree(entries, limits, cut)
    if spec_text is None:
        return None, [*problems, Problem(SPEC_FILE, None, None, "missing: every agent needs one")]
    try:
        text = spec_text.decode("utf-8")
    except UnicodeDecodeError:
        return None, [*problems, Problem(SPEC_FILE, None, None, "not valid UTF-8")]
    spec, spec_problems = validate_spec(text)
    problems += spec_problems
    return (spec if not problems else None), problems
