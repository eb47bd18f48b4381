"""The pygit2 adapter: the only module that touches git. proposed/ is read, never executed."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import pygit2
from pygit2.enums import (
    DeltaStatus,
    DiffFind,
    DiffOption,
    FileMode,
    ObjectType,
    Option,
    RepositoryOpenFlag,
)

from gitops_hive.diffs import DiffLine, FileDiff, Hunk, ProposalDiff
from gitops_hive.errors import Conflict, HiveError, NotFound
from gitops_hive.validation import EntryKind, TreeEntry

MAIN = "refs/heads/main"
HIVE_SIGNATURE = ("gitops-hive", "hive@localhost")
_OWNER_CHECK_OFF = threading.Lock()  # held while libgit2's owner check is lifted
MAX_DIFF_FILE_BYTES = 256 * 1024
MAX_DIFF_FILE_LINES = 3000
MAX_DIFF_TOTAL_LINES = 20000
TRUNCATED_NOTE = "diff size limit reached, not shown"


def isolate_from_user_config(empty_dir: Path) -> None:
    """Point libgit2's global, XDG and system config search at an empty folder."""
    empty_dir.mkdir(parents=True, exist_ok=True)
    for level in (
        pygit2.enums.ConfigLevel.GLOBAL,
        pygit2.enums.ConfigLevel.XDG,
        pygit2.enums.ConfigLevel.SYSTEM,
    ):
        pygit2.settings.search_path[level] = str(empty_dir)


def proposal_ref(approval_id: int) -> str:
    return f"refs/hive/proposals/{approval_id}"


def deployed_ref(approval_id: int) -> str:
    return f"refs/hive/deployed/{approval_id}"


def denied_ref(approval_id: int) -> str:
    return f"refs/hive/denied/{approval_id}"


def failed_ref(approval_id: int) -> str:
    return f"refs/hive/failed/{approval_id}"


def _commit(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Commit:
    obj = repo[oid]
    commit: pygit2.Commit = obj if isinstance(obj, pygit2.Commit) else obj.peel(pygit2.Commit)
    return commit


def _tree(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Tree:
    obj = repo[oid]
    return obj if isinstance(obj, pygit2.Tree) else obj.peel(pygit2.Tree)


def _blob_data(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    obj = repo[oid]
    if not isinstance(obj, pygit2.Blob):
        raise HiveError(f"object {oid} is not a file")
    return obj.data


def _signature() -> pygit2.Signature:
    return pygit2.Signature(*HIVE_SIGNATURE, int(time.time()), 0)


def open_untrusted(git_dir: Path) -> pygit2.Repository:
    """Open a proposed/ repo's .git folder for reading only: no discovery, no gitfile."""
    try:
        info = os.lstat(git_dir)
    except FileNotFoundError:
        raise NotFound(f"no repository at {git_dir.parent}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise HiveError(f"{git_dir} is not a plain folder; refusing to follow it")
    for borrowed in ("objects/info/alternates", "commondir"):
        if os.path.lexists(git_dir / borrowed):
            raise HiveError(
                f"{git_dir} borrows objects from elsewhere ({borrowed}); remove that file"
            )
    if os.path.islink(git_dir / "objects"):
        raise HiveError(f"{git_dir}/objects is a symlink; refusing to follow it")
    flags = RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE
    with _OWNER_CHECK_OFF:
        # Under nspawn a proposed/ repo belongs to an agent's uid, not ours. libgit2 refuses
        # a repo another user owns; we lift that for this read-only open alone.
        pygit2.option(Option.SET_OWNER_VALIDATION, False)
        try:
            return pygit2.Repository(str(git_dir), flags)
        finally:
            pygit2.option(Option.SET_OWNER_VALIDATION, True)


def open_applied(path: Path) -> pygit2.Repository:
    return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE)


def init_applied(path: Path) -> None:
    """Create the bare desired-state repo, with a reflog on every ref."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    repo.config["core.logAllRefUpdates"] = "always"


def init_proposed(path: Path, files: dict[str, bytes], message: str) -> str:
    """Create a work-tree repo with `files` as its first commit on main; return its sha."""
    repo = pygit2.init_repository(str(path), bare=False, initial_head="main")
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        repo.index.add(rel)
    repo.index.write()
    tree = repo.index.write_tree()
    sig = _signature()
    return str(repo.create_commit(MAIN, sig, sig, message, tree, []))


def set_repo_config(git_dir: Path, values: dict[str, str]) -> None:
    repo = pygit2.Repository(str(git_dir), RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE)
    for key, value in values.items():
        repo.config[key] = value


def read_head(git_dir: Path) -> str | None:
    """The sha of proposed/ main, or None when the branch does not exist yet."""
    repo = open_untrusted(git_dir)
    ref = repo.references.get(MAIN)
    if ref is None:
        return None
    return str(ref.resolve().target)


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


def copy_commit(src_git: Path, dst: Path, sha: str, budget_bytes: int) -> int:
    """Copy a commit and the history behind it that dst lacks; return the bytes copied."""
    src = open_untrusted(src_git)
    dst_repo = open_applied(dst)
    copied = 0
    # Everything is read first and written only once the walk succeeded: a refusal (budget,
    # missing object) must not leave a commit in dst whose objects are missing, since a
    # later copy stops at any object dst already has.
    found: dict[pygit2.Oid, tuple[ObjectType, bytes, list[pygit2.Oid]]] = {}
    queue: deque[pygit2.Oid] = deque([pygit2.Oid(hex=sha)])
    while queue:
        oid = queue.popleft()
        if oid in found or oid in dst_repo.odb:
            continue
        try:
            obj_type, data = src.odb.read(oid)
        except KeyError:
            raise HiveError(
                f"object {oid} missing from {src_git.parent}: the repo is incomplete"
            ) from None
        copied += len(data)
        if copied > budget_bytes:
            raise HiveError(
                f"commit {sha} brings more than {budget_bytes} bytes of history; "
                "squash it or raise limits.max_tree_bytes"
            )
        children: list[pygit2.Oid] = []
        if obj_type == ObjectType.COMMIT:
            commit = _commit(src, oid)
            children = [commit.tree_id, *commit.parent_ids]
        elif obj_type == ObjectType.TREE:
            children = [e.id for e in _tree(src, oid) if e.filemode != FileMode.COMMIT]
        found[oid] = (obj_type, data, children)
        queue.extend(children)
    # Write each object after the objects it points at (depth-first, post-order), so dst
    # never holds a commit or tree with missing objects, even if the controller dies here.
    written: set[pygit2.Oid] = set()
    for root in found:
        stack = [(root, False)]
        while stack:
            oid, children_done = stack.pop()
            if oid in written or oid not in found:
                continue
            kind, body, links = found[oid]
            if children_done:
                dst_repo.odb.write(kind, body)
                written.add(oid)
            else:
                stack.append((oid, True))
                stack.extend((child, False) for child in links if child not in written)
    return copied


def set_ref(repo_path: Path, name: str, sha: str, message: str) -> None:
    """Create or move a ref, with a reflog entry."""
    repo = open_applied(repo_path)
    repo.create_reference_direct(name, pygit2.Oid(hex=sha), True, message=message)


def get_ref(repo_path: Path, name: str) -> str | None:
    repo = open_applied(repo_path)
    ref = repo.references.get(name)
    return None if ref is None else str(ref.target)


def write_tag_ref(repo_path: Path, name: str, sha: str, tag: str, message: str) -> None:
    """Point `name` at an annotated tag object on `sha` carrying `message`."""
    repo = open_applied(repo_path)
    sig = _signature()
    raw = (
        f"object {sha}\ntype commit\ntag {tag}\n"
        f"tagger {sig.name} <{sig.email}> {sig.time} +0000\n\n{message.rstrip()}\n"
    ).encode()
    tag_id = repo.odb.write(ObjectType.TAG, raw)
    repo.create_reference_direct(name, tag_id, True, message=f"hive: {tag}")


def list_tree(repo_path: Path, sha: str) -> list[TreeEntry]:
    """Every non-tree entry of a commit's tree with its kind and size."""
    repo = open_applied(repo_path)
    entries: list[TreeEntry] = []
    stack: list[tuple[bytes, pygit2.Tree]] = [(b"", _tree(repo, sha))]
    while stack:
        prefix, tree = stack.pop()
        for entry in tree:
            path = prefix + (entry.raw_name or b"")
            if entry.filemode == FileMode.TREE:
                stack.append((path + b"/", _tree(repo, entry.id)))
                continue
            kind = {
                FileMode.LINK: EntryKind.SYMLINK,
                FileMode.COMMIT: EntryKind.SUBMODULE,
                FileMode.BLOB_EXECUTABLE: EntryKind.EXECUTABLE,
            }.get(entry.filemode, EntryKind.FILE)
            size = 0 if kind is EntryKind.SUBMODULE else len(_blob_data(repo, entry.id))
            entries.append(TreeEntry(path, kind, size))
    return sorted(entries, key=lambda e: e.path)


def read_blob(repo_path: Path, sha: str, path: str) -> bytes | None:
    """A file of a commit, or None when absent or not a regular file."""
    repo = open_applied(repo_path)
    tree = _tree(repo, sha)
    try:
        entry = tree[path]
    except KeyError:
        return None
    if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
        return None
    return _blob_data(repo, entry.id)


def is_ancestor(repo_path: Path, ancestor: str, sha: str) -> bool:
    repo = open_applied(repo_path)
    if ancestor == sha:
        return True
    return bool(repo.descendant_of(pygit2.Oid(hex=sha), pygit2.Oid(hex=ancestor)))


def commit_exists(repo_path: Path, sha: str) -> bool:
    repo = open_applied(repo_path)
    try:
        return repo[sha].type == ObjectType.COMMIT
    except (KeyError, ValueError):
        return False


def match_prefix(repo_path: Path, prefix: str) -> str:
    """Expand a hex prefix to the one object it names in applied.git."""
    repo = open_applied(repo_path)
    try:
        return str(repo.revparse_single(prefix).id)
    except pygit2.AmbiguousError as exc:
        raise Conflict(f"sha prefix {prefix} is ambiguous: give more digits") from exc
    except (KeyError, ValueError, pygit2.GitError):
        raise NotFound(f"no object {prefix} in {repo_path}") from None


def commit_with_tree(repo_path: Path, tree_of: str, parent: str, message: str) -> str:
    """A new commit (no ref moved) whose tree is `tree_of`'s and whose parent is `parent`."""
    repo = open_applied(repo_path)
    sig = _signature()
    tree = _commit(repo, tree_of).tree_id
    return str(repo.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=parent)]))


def commit_summary(repo_path: Path, sha: str) -> str:
    repo = open_applied(repo_path)
    message = _commit(repo, sha).message
    return message.strip().splitlines()[0] if message.strip() else ""


def materialize(repo_path: Path, sha: str, dest: Path) -> None:
    """Write a validated commit's regular files under dest (atomically; never a link)."""
    if dest.exists():
        return
    repo = open_applied(repo_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        staging.chmod(0o755)  # read-only to the agent, whichever uid it runs as
        for entry in list_tree(repo_path, sha):
            if entry.kind not in (EntryKind.FILE, EntryKind.EXECUTABLE):
                continue
            rel = entry.path.decode("utf-8", errors="surrogateescape")
            target = staging / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise HiveError(f"refusing unsafe path {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_blob_data(repo, _tree(repo, sha)[rel].id))
            if entry.kind is EntryKind.EXECUTABLE:
                os.chmod(target, 0o755)
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _status(delta: pygit2.DiffDelta) -> str:
    return {
        DeltaStatus.ADDED: "added",
        DeltaStatus.DELETED: "deleted",
        DeltaStatus.RENAMED: "renamed",
        DeltaStatus.TYPECHANGE: "typechange",
    }.get(delta.status, "modified")


def _blob_bytes(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    if oid.raw == b"\0" * 20:
        return b""
    try:
        return _blob_data(repo, oid)
    except (KeyError, HiveError):
        return b""


def _file_diff(repo: pygit2.Repository, patch: pygit2.Patch, budget: int) -> FileDiff:
    delta = patch.delta
    old_path = (
        None
        if delta.status == DeltaStatus.ADDED
        else delta.old_file.raw_path.decode("utf-8", "replace")
    )
    new_path = (
        None
        if delta.status == DeltaStatus.DELETED
        else delta.new_file.raw_path.decode("utf-8", "replace")
    )
    old_data = _blob_bytes(repo, delta.old_file.id)
    new_data = _blob_bytes(repo, delta.new_file.id)
    _, additions, deletions = patch.line_stats
    status = _status(delta)

    def summary(text: str, binary: bool = False) -> FileDiff:
        counts = (0, 0) if binary else (additions, deletions)
        return FileDiff(old_path, new_path, status, *counts, binary=binary, summary_only=text)

    if _is_binary(old_data) or _is_binary(new_data):
        return summary(f"binary file, {len(old_data)} -> {len(new_data)} bytes", binary=True)
    if max(len(old_data), len(new_data)) > MAX_DIFF_FILE_BYTES:
        return summary(f"file over {MAX_DIFF_FILE_BYTES} bytes, not shown")
    if additions + deletions > MAX_DIFF_FILE_LINES:
        return summary(f"{additions + deletions} changed lines, not shown")
    if additions + deletions > budget:
        return summary(TRUNCATED_NOTE)
    hunks = tuple(
        Hunk(
            hunk.header,
            tuple(
                DiffLine(
                    line.origin,
                    None if line.old_lineno < 0 else line.old_lineno,
                    None if line.new_lineno < 0 else line.new_lineno,
                    line.raw_content.decode("utf-8", "replace"),
                )
                for line in hunk.lines
                if line.origin in "+- "
            ),
        )
        for hunk in patch.hunks
    )
    return FileDiff(
        old_path,
        new_path,
        status,
        additions,
        deletions,
        hunks=hunks,
        old_text=old_data.decode("utf-8", "replace"),
        new_text=new_data.decode("utf-8", "replace"),
    )


def diff_commits(repo_path: Path, base: str | None, head: str) -> ProposalDiff:
    """Diff two pinned commits (base None: the empty tree) as text, whatever .gitattributes says."""
    repo = open_applied(repo_path)
    head_tree = _tree(repo, head)
    flags = DiffOption.FORCE_TEXT | DiffOption.INCLUDE_TYPECHANGE
    if base is None:
        diff = head_tree.diff_to_tree(flags=flags, swap=True)
    else:
        diff = _tree(repo, base).diff_to_tree(head_tree, flags=flags)
    diff.find_similar(DiffFind.FIND_RENAMES)
    files: list[FileDiff] = []
    budget = MAX_DIFF_TOTAL_LINES
    truncated = None
    for patch in diff:
        if patch is None:
            continue
        file_diff = _file_diff(repo, patch, budget)
        if file_diff.summary_only == TRUNCATED_NOTE:
            truncated = f"diff truncated: over {MAX_DIFF_TOTAL_LINES} changed lines in all"
        elif not file_diff.summary_only:
            budget -= file_diff.additions + file_diff.deletions
        files.append(file_diff)
    return ProposalDiff(base=base, head=head, files=tuple(files), truncated=truncated)
