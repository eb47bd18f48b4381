"""Validation of a pinned proposal: its tree's paths and sizes, and its agent.toml."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Limits:
    """Size limits from hive.toml's [limits]."""

    max_file_bytes: int
    max_tree_bytes: int
    max_files: int


FORBIDDEN_COMPONENTS = frozenset({b"", b".", b".."})


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
    return None


def shown_path(path: bytes) -> str:
    """A path fit for a message: undecodable bytes become U+FFFD."""
    return path.decode("utf-8", errors="replace")


def validate_tree(entries: list[TreeEntry], limits: Limits) -> list[Problem]:
    """Every path safe, no symlink or submodule, sizes within the limits."""
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
    if len(entries) > limits.max_files:
        problems.append(
            Problem("/", None, None, f"{len(entries)} files; the limit is {limits.max_files}")
        )
    if total > limits.max_tree_bytes:
        problems.append(
            Problem("/", None, None, f"tree is {total} bytes; the limit is {limits.max_tree_bytes}")
        )
    return problems


def validate_proposal(
    entries: list[TreeEntry], spec_text: bytes | None, limits: Limits
) -> tuple[AgentSpec | None, list[Problem]]:
    """The whole check run at submission: tree first, then agent.toml."""
    problems = validate_tree(entries, limits)
    if spec_text is None:
        return None, [*problems, Problem(SPEC_FILE, None, None, "missing: every agent needs one")]
    try:
        text = spec_text.decode("utf-8")
    except UnicodeDecodeError:
        return None, [*problems, Problem(SPEC_FILE, None, None, "not valid UTF-8")]
    spec, spec_problems = validate_spec(text)
    problems += spec_problems
    return (spec if not problems else None), problems
