"""A pinned tree's paths, kinds and sizes, and the whole submission check."""

from __future__ import annotations

import pytest

from gitops_hive.spec import SPEC_FILE, Problem
from gitops_hive.validation import (
    EntryKind,
    Limits,
    TreeCut,
    TreeEntry,
    shown_path,
    validate_proposal,
    validate_tree,
)
from tests.repo_factory import FIXTURES

ROOMY = Limits(max_file_bytes=1000, max_tree_bytes=10_000, max_files=50)
GOOD_SPEC = (FIXTURES / "worker" / "01-initial" / "agent.toml").read_bytes()
BAD_SPEC = (FIXTURES / "worker" / "03-invalid-spec" / "agent.toml").read_bytes()


def entry(path: bytes, size: int = 10, kind: EntryKind = EntryKind.FILE) -> TreeEntry:
    return TreeEntry(path, kind, size)


def problems_for(path: bytes) -> list[Problem]:
    return validate_tree([entry(path)], ROOMY)


@pytest.mark.parametrize(
    "path",
    [
        b"agent.toml",
        b"prompt.md",
        b"tools/search.sh",
        b"a/b/c/d.txt",
        b".gitignore",
        b".github/workflows/ci.yml",
        b"dir.git/file",
        b"...",
        b"notes..md",
        b"caf\xc3\xa9.md",
    ],
)
def test_ordinary_paths_pass(path: bytes) -> None:
    assert problems_for(path) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (b"/etc/passwd", "absolute path"),
        (b"/agent.toml", "absolute path"),
        (b"../outside", "'..' component"),
        (b"tools/../../outside", "'..' component"),
        (b"tools/..", "'..' component"),
        (b"./agent.toml", "'.' or '..'"),
        (b"a//b", "empty"),
        (b"a/", "empty"),
        (b".git/config", "'.git' folder"),
        (b"sub/.git/hooks/post-checkout", "'.git' folder"),
        (b".GIT/config", "'.git' folder"),
        (b".git./config", "'.git' folder"),
        (b".git /config", "'.git' folder"),
        (b"GIT~1/config", "'.git' folder"),
        (b"a\nb", "control character"),
        (b"a\x1bb", "control character"),
        (b"a\x7fb", "control character"),
        (b"tools\\..\\..\\evil", "backslash"),
        (b"n" * 256, "name over 255 bytes"),
        (b"/".join([b"d" * 60] * 20), "path over 1024 bytes"),
    ],
)
def test_unsafe_paths_are_flagged_with_the_reason(path: bytes, reason: str) -> None:
    problems = problems_for(path)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.message.startswith("unsafe path: ")
    assert reason in problem.message
    assert problem.file == shown_path(path)


def test_symlinks_are_flagged_even_with_a_safe_path() -> None:
    problems = validate_tree([entry(b"prompt.md", kind=EntryKind.SYMLINK)], ROOMY)
    assert [(p.file, p.message) for p in problems] == [
        ("prompt.md", "symlinks are not allowed; commit the file")
    ]


def test_a_symlink_with_an_unsafe_path_gets_both_problems() -> None:
    problems = validate_tree([entry(b"../link", kind=EntryKind.SYMLINK)], ROOMY)
    messages = sorted(p.message for p in problems)
    assert len(messages) == 2
    assert messages[0].startswith("symlinks are not allowed")
    assert messages[1].startswith("unsafe path")


def test_submodules_are_flagged() -> None:
    problems = validate_tree([entry(b"vendor/lib", 0, EntryKind.SUBMODULE)], ROOMY)
    assert [(p.file, p.message) for p in problems] == [("vendor/lib", "submodules are not allowed")]


def test_executables_are_fine() -> None:
    assert validate_tree([entry(b"tools/search.sh", kind=EntryKind.EXECUTABLE)], ROOMY) == []


def test_a_file_at_the_size_limit_passes_and_one_byte_more_fails() -> None:
    limits = Limits(max_file_bytes=100, max_tree_bytes=10_000, max_files=10)
    assert validate_tree([entry(b"a", 100)], limits) == []
    problems = validate_tree([entry(b"a", 100), entry(b"b", 101)], limits)
    assert [(p.file, p.message) for p in problems] == [("b", "file is 101 bytes; the limit is 100")]


def test_the_total_size_counts_every_file() -> None:
    limits = Limits(max_file_bytes=100, max_tree_bytes=250, max_files=10)
    assert validate_tree([entry(b"a", 100), entry(b"b", 100), entry(b"c", 50)], limits) == []
    problems = validate_tree(
        [entry(b"a", 100), entry(b"b", 100), entry(b"c", 50), entry(b"d", 1)], limits
    )
    assert [(p.file, p.message) for p in problems] == [("/", "tree is 251 bytes; the limit is 250")]


def test_an_oversized_file_also_counts_toward_the_total() -> None:
    limits = Limits(max_file_bytes=10, max_tree_bytes=15, max_files=10)
    problems = validate_tree([entry(b"big", 20)], limits)
    assert sorted(p.file for p in problems) == ["/", "big"]


def test_the_file_count_limit() -> None:
    limits = Limits(max_file_bytes=100, max_tree_bytes=10_000, max_files=3)
    three = [entry(f"f{i}".encode(), 1) for i in range(3)]
    assert validate_tree(three, limits) == []
    problems = validate_tree([*three, entry(b"f3", 1)], limits)
    assert [(p.file, p.message) for p in problems] == [
        ("/", "4 files; the limit is limits.max_files = 3")
    ]


def test_depth_is_limited_and_the_reason_names_the_setting() -> None:
    at_limit = b"d/" * 32 + b"f"
    assert validate_tree([entry(at_limit)], ROOMY) == []
    problems = validate_tree([entry(b"d/" + at_limit)], ROOMY)
    assert [(p.file, p.message) for p in problems] == [
        ("/", "folders nested more than 32 deep; the limit is limits.max_depth = 32")
    ]


def test_a_listing_cut_short_at_a_limit_is_refused_with_that_limit() -> None:
    limits = Limits(max_file_bytes=100, max_tree_bytes=10_000, max_files=3, max_depth=4)
    few = [entry(b"a")]
    deep = validate_tree(few, limits, TreeCut.DEPTH)
    assert [p.message for p in deep] == [
        "folders nested more than 4 deep; the limit is limits.max_depth = 4"
    ]
    wide = validate_tree(few, limits, TreeCut.FILES)
    assert [p.message for p in wide] == [
        "more than 3 files or folders; the limit is limits.max_files = 3"
    ]


def test_a_path_listed_twice_or_both_file_and_folder_is_refused() -> None:
    # A hand-made tree can hold both; writing it would fail when the agent is built.
    problems = validate_tree([entry(b"a"), entry(b"a"), entry(b"b"), entry(b"b/c")], ROOMY)
    assert sorted((p.file, p.message) for p in problems) == [
        ("a", "path listed twice"),
        ("b", "path is both a file and a folder"),
    ]


def test_undecodable_paths_are_shown_with_replacement_characters() -> None:
    path = b"bad\xff\xfe/../x"
    problems = problems_for(path)
    assert len(problems) == 1
    assert problems[0].file == "bad\ufffd\ufffd/../x"
    assert shown_path(b"\xc3\xa9") == "\u00e9"


def test_a_valid_proposal_gives_its_spec() -> None:
    entries = [entry(b"agent.toml", len(GOOD_SPEC)), entry(b"prompt.md", 20)]
    spec, problems = validate_proposal(entries, GOOD_SPEC, ROOMY)
    assert problems == []
    assert spec is not None and spec.model == "sonnet"


def test_a_proposal_without_agent_toml_is_refused() -> None:
    spec, problems = validate_proposal([entry(b"prompt.md")], None, ROOMY)
    assert spec is None
    assert [(p.file, p.message) for p in problems] == [
        (SPEC_FILE, "missing: every agent needs one")
    ]


def test_a_spec_that_is_not_utf8_is_refused() -> None:
    spec, problems = validate_proposal([entry(b"agent.toml")], b'description = "\xff"\n', ROOMY)
    assert spec is None
    assert [(p.file, p.message) for p in problems] == [(SPEC_FILE, "not valid UTF-8")]


def test_tree_and_spec_problems_are_reported_together() -> None:
    entries = [entry(b"agent.toml", len(BAD_SPEC)), entry(b"../escape")]
    spec, problems = validate_proposal(entries, BAD_SPEC, ROOMY)
    assert spec is None
    assert {p.file for p in problems} == {"../escape", SPEC_FILE}
    assert {p.key for p in problems if p.file == SPEC_FILE} == {"model", "container.privileged"}


def test_a_good_spec_in_a_bad_tree_gives_no_spec() -> None:
    entries = [entry(b"agent.toml", len(GOOD_SPEC)), entry(b"link", kind=EntryKind.SYMLINK)]
    spec, problems = validate_proposal(entries, GOOD_SPEC, ROOMY)
    assert spec is None
    assert [p.file for p in problems] == ["link"]
