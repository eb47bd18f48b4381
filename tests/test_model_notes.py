"""Model-override notes on real repos: the pygit2 adapter, the note's schema, the rules."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pygit2
import pytest

from gitops_hive import repos
from gitops_hive.approvals.rules import should_auto_submit
from gitops_hive.errors import HiveError, NotFound
from gitops_hive.overrides.note import (
    NOTE_FILE,
    ModelNote,
    check_model,
    effective,
    model_state,
    parse_note,
    render_note,
)
from gitops_hive.records import ApprovalStatus
from gitops_hive.repos import notes
from tests.repo_factory import git, make_repo

ALLOWED = ("haiku", "sonnet", "opus")


@pytest.fixture
def applied(tmp_path: Path) -> tuple[Path, list[str]]:
    """applied.git holding the worker fixture's first three commits (a first-parent chain)."""
    proposed = tmp_path / "proposed"
    shas = make_repo(proposed, "worker", upto=3)
    target = tmp_path / "applied.git"
    repos.init_applied(target)
    repos.copy_commit(proposed / ".git", target, shas[-1], 10**8)
    return target, shas


def note(model: str, by: str = "operator", reason: str = "") -> str:
    return render_note(ModelNote(model, by, reason))


def test_the_first_note_on_first_parent_history_wins(applied: tuple[Path, list[str]]) -> None:
    repo, (first, second, third) = applied
    assert notes.find_first_parent_note(repo, third) is None
    notes.write_note(repo, first, note("haiku"), "haiku on first")
    found = notes.find_first_parent_note(repo, third)
    assert found is not None and found.commit == first
    notes.write_note(repo, second, note("opus"), "opus on second")
    found = notes.find_first_parent_note(repo, third)
    assert found is not None and (found.commit, parse_note(found.text, ALLOWED)[0]) == (
        second,
        ModelNote("opus", "operator"),
    )
    # From the first commit, the later note is not history: the older one applies.
    found = notes.find_first_parent_note(repo, first)
    assert found is not None and found.commit == first
    assert notes.read_note(repo, second) == note("opus")
    assert notes.read_note(repo, third) is None


def test_every_write_is_a_notes_commit_and_history_names_the_last_change(
    applied: tuple[Path, list[str]],
) -> None:
    repo, (first, second, _) = applied
    one = notes.write_note(repo, first, note("haiku"), "model haiku on first")
    two = notes.write_note(repo, second, note("opus"), "model opus on second")
    three = notes.write_note(repo, first, note("sonnet"), "model sonnet on first")
    assert [c.notes_commit for c in notes.history(repo, 10)] == [three, two, one]
    assert [c.message for c in notes.history(repo, 2)] == [
        "model sonnet on first",
        "model opus on second",
    ]
    change = notes.last_change(repo, second)
    assert change is not None and change.notes_commit == two  # untouched by the later write
    change = notes.last_change(repo, first)
    assert change is not None and change.notes_commit == three
    # The notes ref keeps a reflog, like every ref the controller moves.
    ref = pygit2.Repository(str(repo)).references[notes.MODEL_NOTES_REF]
    assert len(list(ref.log())) == 3


def _write_from_another_process(repo: str, sha: str, count: int, tag: str) -> None:
    for i in range(count):
        notes.write_note(Path(repo), sha, note("opus", tag), f"{tag} {i}")


def test_writers_in_separate_processes_lose_no_note(applied: tuple[Path, list[str]]) -> None:
    """No lock is shared across processes: only the ref's compare-and-swap keeps every note."""
    repo, shas = applied
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_from_another_process, args=(str(repo), shas[i], 15, f"p{i}"))
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    messages = [c.message for c in notes.history(repo, 100)]
    assert sorted(messages) == sorted(f"p{w} {i}" for w in range(3) for i in range(15))


def test_concurrent_writers_lose_no_note(applied: tuple[Path, list[str]]) -> None:
    repo, shas = applied
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            notes.write_note(repo, shas[i % 3], note(ALLOWED[i % 3], f"writer {i}"), f"w{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(c.message for c in notes.history(repo, 100)) == sorted(f"w{i}" for i in range(24))


def test_a_note_written_by_git_notes_in_proposed_is_read_with_libgit2(tmp_path: Path) -> None:
    proposed = tmp_path / "proposed"
    first, second, third = make_repo(proposed, "worker", upto=3)
    assert notes.read_proposed_note(proposed / ".git", third, first) is None
    body = 'model = "haiku"\nset_by = "manager"\nreason = "cheap enough"\n'
    git(proposed, "notes", "--ref=hive/model", "add", "-m", body, second)
    # A note on a commit just before the submitted head is found, not lost...
    text = notes.read_proposed_note(proposed / ".git", third, first)
    assert text is not None
    assert parse_note(text, ALLOWED)[0] == ModelNote("haiku", "manager", "cheap enough")
    # ...but the walk stops at the deployed commit, whose note was reviewed already.
    assert notes.read_proposed_note(proposed / ".git", third, second) is None
    # On the deployed commit itself, its own note is what a note-only proposal carries.
    assert notes.read_proposed_note(proposed / ".git", second, second) == text


def hostile_notes_ref(repo_path: Path, entries: list[tuple[str, pygit2.Oid, str]]) -> None:
    """Point refs/notes/hive/model at a commit whose raw tree holds `entries` (name, oid,
    mode), written byte by byte: libgit2 itself would refuse to build such a tree."""
    repo = pygit2.Repository(str(repo_path))
    raw = b"".join(
        f"{mode} {name}".encode() + b"\0" + bytes.fromhex(str(oid)) for name, oid, mode in entries
    )
    tree = repo.odb.write(pygit2.enums.ObjectType.TREE, raw)
    sig = pygit2.Signature("manager", "m@hive.test", 0, 0)
    commit = repo.create_commit(None, sig, sig, "notes", tree, [])
    repo.create_reference_direct(notes.MODEL_NOTES_REF, commit, True)


def test_a_malformed_notes_tree_is_a_one_line_error_never_a_traceback(tmp_path: Path) -> None:
    proposed = tmp_path / "proposed"
    (head,) = make_repo(proposed, "worker", upto=1)
    repo = pygit2.Repository(str(proposed))
    blob = repo.create_blob(b'model = "opus"\n')
    tree = repo.TreeBuilder().write()
    git_dir = proposed / ".git"
    cases = [
        [(head[:2], blob, "40000")],  # a fan-out folder that is a file
        [(head, tree, "100644")],  # a note that is a folder
    ]
    for entries in cases:
        hostile_notes_ref(proposed, entries)
        try:
            found = notes.read_proposed_note(git_dir, head, None)
        except HiveError as exc:
            assert "damaged" in exc.message or "not a file" in exc.message
        else:
            assert found is None
    # The notes ref names a blob, not a commit.
    repo.create_reference_direct(notes.MODEL_NOTES_REF, blob, True)
    with pytest.raises(HiveError, match="damaged"):
        notes.read_proposed_note(git_dir, head, None)


def test_an_oversized_note_is_refused(tmp_path: Path, applied: tuple[Path, list[str]]) -> None:
    repo, shas = applied
    with pytest.raises(HiveError, match="at most 4096 bytes"):
        notes.write_note(repo, shas[0], "x" * 5000, "big")
    proposed = tmp_path / "big"
    (head,) = make_repo(proposed, "worker", upto=1)
    git(proposed, "notes", "--ref=hive/model", "add", "-m", "x" * 5000, "HEAD")
    with pytest.raises(HiveError, match="over 4096 bytes"):
        notes.read_proposed_note(proposed / ".git", head, None)


def test_a_note_on_an_unknown_commit_is_refused(applied: tuple[Path, list[str]]) -> None:
    repo, _ = applied
    with pytest.raises(NotFound, match=f"no commit {'0' * 40} in "):
        notes.write_note(repo, "0" * 40, note("opus"), "nothing there")
    with pytest.raises(HiveError, match="full sha"):
        notes.write_note(repo, "abc123", note("opus"), "short")


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ('model = "gpt-9"\n', 1, "model", "unknown model 'gpt-9'; hive.toml allows haiku"),
        ('set_by = "x"\n', None, "model", "required"),
        ('model = "opus"\ncolour = "red"\n', 2, "colour", "unknown key"),
        ('model = "opus"\nreason = 3\n', 2, "reason", "must be a string"),
        ('model = "opus"\nreason = "a\\u202eb"\n', 2, "reason", "bidirectional"),
        ('model = "opus"\nset_by = "\\u001b[2J"\n', 2, "set_by", "control"),
        ("model = \n", 1, None, "not valid TOML"),
    ],
)
def test_a_bad_note_names_ref_line_and_key(
    text: str, line: int | None, key: str | None, message: str
) -> None:
    parsed, problems = parse_note(text, ALLOWED)
    assert parsed is None
    assert problems[0].file == NOTE_FILE
    assert (problems[0].line, problems[0].key) == (line, key)
    assert message in problems[0].message


def test_default_clears_and_falls_back_to_agent_toml_then_the_hive_default() -> None:
    opus = ("a" * 40, ModelNote("opus", "operator"))
    assert effective(opus, "haiku", "sonnet").model == "opus"
    assert effective(opus, "haiku", "sonnet").source == "note"
    clear = ("a" * 40, ModelNote("default", "operator"))
    assert (effective(clear, "haiku", "sonnet").model, effective(clear, None, "x").source) == (
        "haiku",
        "default",
    )
    assert effective(None, None, "sonnet").model == "sonnet"
    assert parse_note('model = "default"\n', ALLOWED)[0] == ModelNote("default")
    assert model_state("opus", "opus") == "active"
    assert model_state("opus", "haiku") == "queued"
    assert model_state("opus", None) == "queued"


def test_the_operators_model_must_be_one_hive_toml_allows() -> None:
    assert check_model(" opus ", ALLOWED) == "opus"
    with pytest.raises(HiveError, match="allows haiku, sonnet, opus"):
        check_model("gpt-9", ALLOWED)
    with pytest.raises(HiveError):
        check_model("default", ALLOWED)  # clearing is --clear, not a model name


def test_a_new_note_alone_is_submitted_but_not_a_refused_one_again() -> None:
    base = {
        "head": "b" * 40,
        "deployed": "b" * 40,
        "auto_submit": True,
        "has_history": True,
        "pending_head": None,
        "last_for_head": ApprovalStatus.DEPLOYED,
    }
    assert not should_auto_submit(**base)
    assert should_auto_submit(**base, note_changed=True)
    assert not should_auto_submit(**{**base, "auto_submit": False}, note_changed=True)
    denied = {**base, "deployed": "c" * 40, "last_for_head": ApprovalStatus.DENIED}
    assert not should_auto_submit(**denied, note_changed=False)
    assert should_auto_submit(**denied, note_changed=True)
