"""Git notes on agents' commits (the model override): read, walk, write, and their history."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

from gitops_hive.errors import HiveError, NotFound
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.objects import MODEL_NOTES_REF, peel_commit, signature
from gitops_hive.repos.opening import ProposedRepo, open_applied, open_untrusted
from gitops_hive.repos.ref_writes import ref_written

MAX_NOTE_BYTES = 4096
MAX_WALK = 10_000  # commits of applied.git walked looking for a note before giving up
WRITE_ATTEMPTS = 50
PROPOSED_WALK = 100  # commits of proposed/ walked back from a submitted head
_WRITE_LOCK = threading.Lock()  # one notes commit at a time in this process


@dataclass(frozen=True)
class FoundNote:
    """A note and the commit it annotates."""

    commit: str
    text: str


@dataclass(frozen=True)
class NoteChange:
    """The notes-ref commit that last set a commit's note: when, and its message."""

    notes_commit: str
    when: float
    message: str


def _blob_text(repo: pygit2.Repository, oid: pygit2.Oid, where: str) -> str:
    """A note's text; its size is checked before the blob is loaded."""
    kind, size = repo.odb.read_header(oid)
    if kind != ObjectType.BLOB:
        raise HiveError(f"the note {where} is not a file; rewrite it")
    if size > MAX_NOTE_BYTES:
        raise HiveError(f"the note {where} is over {MAX_NOTE_BYTES} bytes; shorten it")
    obj = repo[oid]
    if not isinstance(obj, pygit2.Blob):
        raise HiveError(f"the note {where} is not a file; rewrite it")
    return obj.data.decode("utf-8", "replace")


def _note_blob(repo: pygit2.Repository, notes_tree: pygit2.Tree, sha: str) -> pygit2.Oid | None:
    """The blob holding `sha`'s note in a notes tree, flat or fanned out (ab/cdef...)."""
    tree = notes_tree
    rest = sha
    while rest:
        if rest in tree:
            entry = tree[rest]
            return entry.id if entry.filemode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE) else None
        head, rest = rest[:2], rest[2:]
        if head not in tree or tree[head].filemode != FileMode.TREE:
            return None
        obj = repo[tree[head].id]
        if not isinstance(obj, pygit2.Tree):
            return None  # a fan-out entry that is not a folder: no note there
        tree = obj
    return None


def _notes_tree(repo: pygit2.Repository, notes_commit: pygit2.Oid | str) -> pygit2.Tree:
    return peel_commit(repo, notes_commit).tree


def _tip(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    found = repo.references.get(ref)
    if found is None:
        return None
    return peel_commit(repo, found.resolve().target).id


def _read(repo: pygit2.Repository, tip: pygit2.Oid | None, sha: str, where: str) -> str | None:
    if tip is None:
        return None
    blob = _note_blob(repo, _notes_tree(repo, tip), sha)
    return None if blob is None else _blob_text(repo, blob, where)


def _walk_for_note(
    repo: pygit2.Repository,
    tip: pygit2.Oid | str | None,
    head: str,
    limit: int,
    stop_at: str | None,
    where: str,
) -> FoundNote | None:
    """The first note met on first-parent history from `head`: at most `limit` commits, and
    never on `stop_at` unless it is `head` itself. `tip` is the notes ref's commit."""
    if tip is None:
        return None
    notes = _notes_tree(repo, tip)
    commit = peel_commit(repo, head)
    for _ in range(limit):
        sha = str(commit.id)
        if sha == stop_at and sha != head:
            return None
        blob = _note_blob(repo, notes, sha)
        if blob is not None:
            return FoundNote(sha, _blob_text(repo, blob, f"on {sha[:12]}{where}"))
        if not commit.parent_ids:
            return None
        commit = peel_commit(repo, commit.parent_ids[0])
    return None


@translated("read the model note", PROPOSED_ADVICE)
def read_proposed_note(
    git_dir: Path, head: str, stop_at: str | None, ref: str = MODEL_NOTES_REF
) -> str | None:
    """The manager's note nearest `head` in an untrusted proposed/ repo, or None.

    Walks first-parent history from `head` (at most PROPOSED_WALK commits), stopping before
    `stop_at` (the deployed commit, whose note was reviewed already): a note on a commit the
    manager made just before its last one is not lost. Anything malformed is a HiveError.
    """
    with open_untrusted(git_dir) as repo:
        return proposed_note_in(repo, git_dir, head, stop_at, ref)


def proposed_note_in(
    repo: ProposedRepo, git_dir: Path, head: str, stop_at: str | None, ref: str = MODEL_NOTES_REF
) -> str | None:
    """read_proposed_note on a proposed/ repo already open."""
    where = f" in {git_dir.parent}"
    tip = repo.refs.target(ref)
    if tip is None:
        return None
    try:
        found = _walk_for_note(repo.repo, tip, head, PROPOSED_WALK, stop_at, where)
    except HiveError:
        raise
    except Exception:  # whatever libgit2 makes of a hostile repo, never a traceback
        raise HiveError(f"{ref}{where} is damaged; rewrite that note") from None
    return None if found is None else found.text


@translated("read a model note")
def read_note(repo_path: Path, sha: str, ref: str = MODEL_NOTES_REF) -> str | None:
    """The note on `sha` in applied.git, or None."""
    repo = open_applied(repo_path)
    return _read(repo, _tip(repo, ref), sha, f"on {sha[:12]}")


@translated("find the model note in effect")
def find_first_parent_note(
    repo_path: Path, sha: str, ref: str = MODEL_NOTES_REF
) -> FoundNote | None:
    """The first note met walking first-parent history from `sha` in applied.git."""
    repo = open_applied(repo_path)
    return _walk_for_note(repo, _tip(repo, ref), sha, MAX_WALK, None, "")


@translated("write a model note")
def write_note(repo_path: Path, sha: str, text: str, message: str) -> str:
    """Set `sha`'s note in applied.git as one new notes commit; return that commit's sha.

    The notes ref moves by compare-and-swap from the tip the new commit was built on, so two
    writers can never drop each other's note.
    """
    data = text.encode()
    if len(sha) != 40:
        raise HiveError(f"a note annotates a full sha, not {sha!r}")
    if len(data) > MAX_NOTE_BYTES:
        raise HiveError(f"a note is at most {MAX_NOTE_BYTES} bytes")
    with _WRITE_LOCK:
        repo = open_applied(repo_path)
        if sha not in repo.odb:
            raise NotFound(f"no commit {sha} in {repo_path}: a note annotates a commit there")
        peel_commit(repo, sha)  # a commit, not some other object
        for attempt in range(WRITE_ATTEMPTS):
            tip = _tip(repo, MODEL_NOTES_REF)
            builder = repo.TreeBuilder(_notes_tree(repo, tip)) if tip else repo.TreeBuilder()
            if builder.get(sha[:2]) is not None:
                raise HiveError("the notes ref is fanned out; the controller writes it flat")
            builder.insert(sha, repo.odb.write(ObjectType.BLOB, data), FileMode.BLOB)
            sig = signature()
            parents = [tip] if tip else []
            new = repo.create_commit(None, sig, sig, message, builder.write(), parents)
            try:
                if tip is None:
                    repo.create_reference_direct(MODEL_NOTES_REF, new, False, message=message)
                else:
                    reference = repo.references[MODEL_NOTES_REF]
                    if reference.target != tip:
                        continue  # moved since we read it: build on the new tip
                    reference.set_target(new, message)
            except (pygit2.AlreadyExistsError, pygit2.GitError, ValueError, OSError):
                # Another writer moved the ref first, or holds its lock file: build anew.
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
                continue
            finally:
                ref_written(repo_path)
            return str(new)
    raise HiveError(f"could not update {MODEL_NOTES_REF}: it kept moving; try again")


@translated("read the history of a model note")
def last_change(repo_path: Path, sha: str, ref: str = MODEL_NOTES_REF) -> NoteChange | None:
    """The notes-ref commit that set `sha`'s current note (the newest one that changed it)."""
    repo = open_applied(repo_path)
    tip = _tip(repo, ref)
    if tip is None:
        return None
    current = _note_blob(repo, _notes_tree(repo, tip), sha)
    if current is None:
        return None
    commit = peel_commit(repo, tip)
    for _ in range(MAX_WALK):
        parent = peel_commit(repo, commit.parent_ids[0]) if commit.parent_ids else None
        before = _note_blob(repo, parent.tree, sha) if parent is not None else None
        if before != current:
            return NoteChange(str(commit.id), float(commit.commit_time), commit.message.strip())
        assert parent is not None
        commit = parent
    return None


@translated("read the history of model notes")
def history(repo_path: Path, limit: int, ref: str = MODEL_NOTES_REF) -> list[NoteChange]:
    """The newest `limit` commits of the notes ref: every switch, newest first."""
    repo = open_applied(repo_path)
    tip = _tip(repo, ref)
    changes: list[NoteChange] = []
    commit = peel_commit(repo, tip) if tip else None
    while commit is not None and len(changes) < limit:
        changes.append(
            NoteChange(str(commit.id), float(commit.commit_time), commit.message.strip())
        )
        commit = peel_commit(repo, commit.parent_ids[0]) if commit.parent_ids else None
    return changes
