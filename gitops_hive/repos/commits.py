"""Commits in applied.git: ancestry, existence, prefixes, summaries, and new commits."""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import ObjectType, SortMode

from gitops_hive.errors import Conflict, NotFound
from gitops_hive.records import CommitInfo
from gitops_hive.repos.failures import translated
from gitops_hive.repos.objects import peel_commit, signature
from gitops_hive.repos.opening import open_applied

MAX_MESSAGE_BYTES = 16 * 1024  # of a commit message shown in review; the rest is counted
MAX_PERSON_BYTES = 160  # of an author's or committer's name, and of the email
MAX_SUMMARY_CHARS = 200  # of a commit's first line, where a list shows it


@translated("compare the history of two commits")
def is_ancestor(repo_path: Path, ancestor: str, sha: str) -> bool:
    """Whether `ancestor` is `sha` or in its history."""
    repo = open_applied(repo_path)
    if ancestor == sha:
        return True
    return bool(repo.descendant_of(pygit2.Oid(hex=sha), pygit2.Oid(hex=ancestor)))


@translated("look up a commit")
def commit_exists(repo_path: Path, sha: str) -> bool:
    """Whether applied.git holds `sha` as a commit."""
    repo = open_applied(repo_path)
    try:
        return repo[sha].type == ObjectType.COMMIT
    except (KeyError, ValueError):
        return False


@translated("expand a sha prefix")
def match_prefix(repo_path: Path, prefix: str) -> str:
    """Expand a hex prefix to the one object it names in applied.git."""
    repo = open_applied(repo_path)
    try:
        return str(repo.revparse_single(prefix).id)
    except pygit2.AmbiguousError as exc:
        raise Conflict(f"sha prefix {prefix} is ambiguous: give more digits") from exc
    except (KeyError, ValueError, pygit2.GitError):
        raise NotFound(f"no object {prefix} in {repo_path}") from None


@translated("write a commit")
def commit_with_tree(repo_path: Path, tree_of: str, parent: str, message: str) -> str:
    """A new commit (no ref moved) whose tree is `tree_of`'s and whose parent is `parent`."""
    repo = open_applied(repo_path)
    sig = signature()
    tree = peel_commit(repo, tree_of).tree_id
    return str(repo.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=parent)]))


@translated("read a commit's message")
def commit_summary(repo_path: Path, sha: str) -> str:
    """The first line of a commit's message, cut to MAX_SUMMARY_CHARS."""
    repo = open_applied(repo_path)
    raw = peel_commit(repo, sha).raw_message[:MAX_MESSAGE_BYTES]
    message = raw.decode("utf-8", "replace").strip()
    first = message.splitlines()[0] if message else ""
    return first[:MAX_SUMMARY_CHARS] + ("…" if len(first) > MAX_SUMMARY_CHARS else "")


def _cut(raw: bytes, most: int) -> str:
    return raw[:most].decode("utf-8", "replace") + ("…" if len(raw) > most else "")


def _person(who: pygit2.Signature) -> str:
    name = _cut(who.raw_name, MAX_PERSON_BYTES)
    return f"{name} <{_cut(who.raw_email, MAX_PERSON_BYTES)}>"


def _message(raw: bytes) -> str:
    """A commit message for review: whole, or its start and how large it is."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        return raw.decode("utf-8", "replace")
    shown = raw[:MAX_MESSAGE_BYTES].decode("utf-8", "replace")
    return f"{shown}\n[message cut: {len(raw)} bytes, the first {MAX_MESSAGE_BYTES} shown]\n"


@translated("list the commits of a proposal")
def list_commits(
    repo_path: Path, base: str | None, head: str, limit: int
) -> tuple[list[CommitInfo], int]:
    """Commits reachable from `head` but not from `base` (`git log base..head`), newest first,
    at most `limit` of them, and how many there are in all."""
    repo = open_applied(repo_path)
    walker = repo.walk(pygit2.Oid(hex=head), SortMode.TOPOLOGICAL | SortMode.TIME)
    if base is not None:
        walker.hide(pygit2.Oid(hex=base))
    commits: list[CommitInfo] = []
    total = 0
    for commit in walker:
        total += 1
        if len(commits) < limit:
            commits.append(
                CommitInfo(
                    sha=str(commit.id),
                    author=_person(commit.author),
                    committer=_person(commit.committer),
                    date=float(commit.author.time),
                    message=_message(commit.raw_message),
                    parents=tuple(str(p) for p in commit.parent_ids),
                )
            )
    return commits, total


@translated("fingerprint the commits of a range")
def range_fingerprints(repo_path: Path, base: str | None, head: str, limit: int) -> dict[str, str]:
    """Each commit of `base..head` (at most `limit`) mapped to the patch id of its change
    against its first parent ("" for a merge or an empty change): the same change committed
    again, cherry-picked or rebased, has the same patch id under another sha."""
    repo = open_applied(repo_path)
    walker = repo.walk(pygit2.Oid(hex=head), SortMode.TOPOLOGICAL)
    if base is not None:
        walker.hide(pygit2.Oid(hex=base))
    found: dict[str, str] = {}
    for commit in walker:
        if len(found) >= limit:
            break
        patch = ""
        if len(commit.parent_ids) <= 1:
            if commit.parents:
                diff = repo.diff(commit.parents[0], commit)
            else:
                diff = commit.tree.diff_to_tree(swap=True)
            if len(diff) > 0:
                patch = str(diff.patchid)
        found[str(commit.id)] = patch
    return found
