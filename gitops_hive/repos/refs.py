"""Refs: proposed/ main and a submitted name resolved once, applied.git's refs moved with a log."""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from gitops_hive.errors import NotFound
from gitops_hive.repos.failures import PROPOSED_ADVICE, translated
from gitops_hive.repos.objects import MAIN, signature
from gitops_hive.repos.opening import open_applied, open_untrusted


def proposal_ref(approval_id: int) -> str:
    """Where a submitted commit is pinned in applied.git."""
    return f"refs/hive/proposals/{approval_id}"


def deployed_ref(approval_id: int) -> str:
    """The mirror ref of a deployed approval."""
    return f"refs/hive/deployed/{approval_id}"


def denied_ref(approval_id: int) -> str:
    """The mirror ref (an annotated tag with the reason) of a denied approval."""
    return f"refs/hive/denied/{approval_id}"


def failed_ref(approval_id: int) -> str:
    """The mirror ref of an approval whose build failed."""
    return f"refs/hive/failed/{approval_id}"


@translated("read refs/heads/main", PROPOSED_ADVICE)
def read_head(git_dir: Path) -> str | None:
    """The sha of proposed/ main, or None when the branch does not exist yet."""
    repo = open_untrusted(git_dir)
    ref = repo.references.get(MAIN)
    if ref is None:
        return None
    return str(ref.resolve().target)


@translated("resolve the commit to submit", PROPOSED_ADVICE)
def resolve_commit(git_dir: Path, ref: str) -> str:
    """Resolve a branch, tag or (abbreviated) sha in proposed/ to one full commit sha."""
    repo = open_untrusted(git_dir)
    candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for name in candidates:
        found = repo.references.get(name)
        if found is not None:
            return str(found.resolve().peel(pygit2.Commit).id)
    try:
        obj = repo.revparse_single(ref)
        return str(obj.peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise NotFound(f"no commit {ref!r} in {git_dir.parent}: give a branch or a sha") from None


@translated("move a ref")
def set_ref(repo_path: Path, name: str, sha: str, message: str) -> None:
    """Create or move a ref, with a reflog entry."""
    repo = open_applied(repo_path)
    repo.create_reference_direct(name, pygit2.Oid(hex=sha), True, message=message)


@translated("read a ref")
def get_ref(repo_path: Path, name: str) -> str | None:
    """The sha a ref of applied.git points at, or None when there is no such ref."""
    repo = open_applied(repo_path)
    ref = repo.references.get(name)
    return None if ref is None else str(ref.target)


@translated("write a tag")
def write_tag_ref(repo_path: Path, name: str, sha: str, tag: str, message: str) -> None:
    """Point `name` at an annotated tag object on `sha` carrying `message`."""
    repo = open_applied(repo_path)
    sig = signature()
    raw = (
        f"object {sha}\ntype commit\ntag {tag}\n"
        f"tagger {sig.name} <{sig.email}> {sig.time} +0000\n\n{message.rstrip()}\n"
    ).encode()
    tag_id = repo.odb.write(ObjectType.TAG, raw)
    repo.create_reference_direct(name, tag_id, True, message=f"hive: {tag}")
