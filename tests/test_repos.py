"""The pygit2 adapter against real repos built with the git CLI.

proposed/ is hostile: these tests pin commits, then rewrite, gc, poison and re-point the
source, and check that what the controller pinned, diffed and materialised never changes and
that nothing in the source's config or hooks ever runs.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import repos
from gitops_hive.diffs import FileDiff, ProposalDiff, render_patch, render_stat
from gitops_hive.errors import Conflict, HiveError, NotFound
from gitops_hive.validation import EntryKind, Limits, validate_tree
from tests.repo_factory import FIXTURES, GIT_ENV, commit_step, git, make_repo

BUDGET = 10 * 1024 * 1024
ROOMY = Limits(max_file_bytes=10_000_000, max_tree_bytes=100_000_000, max_files=10_000)
WORKER = FIXTURES / "worker"


def git_result(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the git CLI without raising, for checks that expect a failure."""
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )


def commit_files(work: Path, files: dict[str, bytes | None], message: str = "change") -> str:
    """Write (or, for None, delete) files in work and commit them; return the new sha."""
    for rel, data in files.items():
        target = work / rel
        if data is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "--allow-empty", "-m", message)
    return git(work, "rev-parse", "HEAD")


def ls_tree(repo: Path, sha: str) -> dict[bytes, tuple[str, int]]:
    """git's own view of a commit's files: path -> (mode, size), the oracle for list_tree."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-l", "-z", sha],
        capture_output=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout
    found: dict[bytes, tuple[str, int]] = {}
    for record in filter(None, out.split(b"\0")):
        meta, path = record.split(b"\t", 1)
        mode, _kind, _oid, size = meta.split()
        found[path] = (mode.decode(), 0 if size == b"-" else int(size))
    return found


def snapshot(applied: Path, sha: str, base: str | None) -> dict[str, Any]:
    """Everything the controller reads of a pinned commit."""
    entries = repos.list_tree(applied, sha, ROOMY).entries
    return {
        "entries": entries,
        "blobs": {e.path: repos.read_blob(applied, sha, e.path.decode()) for e in entries},
        "diff": [f.to_json() for f in repos.diff_commits(applied, base, sha).files],
        "summary": repos.commit_summary(applied, sha),
    }


def by_path(diff: ProposalDiff) -> dict[str, FileDiff]:
    return {f.path: f for f in diff.files}


def lines(file_diff: FileDiff) -> list[tuple[str, str]]:
    return [(line.origin, line.text) for hunk in file_diff.hunks for line in hunk.lines]


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    path = tmp_path / "agents" / "worker" / "applied.git"
    repos.init_applied(path)
    return path


@pytest.fixture
def worker(tmp_path: Path) -> tuple[Path, list[str]]:
    """proposed/ with every worker fixture commit."""
    work = tmp_path / "agents" / "worker" / "proposed"
    return work, make_repo(work, "worker")


def pin(work: Path, applied: Path, sha: str, approval_id: int = 1) -> int:
    copied = repos.copy_commit(work / ".git", applied, sha, BUDGET)
    repos.set_ref(applied, repos.proposal_ref(approval_id), sha, f"hive: pin #{approval_id}")
    return copied


# open_untrusted


def test_read_head_and_resolve_commit_read_proposed(worker: tuple[Path, list[str]]) -> None:
    work, shas = worker
    git(work, "tag", "-a", "v1", "-m", "first", shas[0])
    git_dir = work / ".git"
    assert repos.read_head(git_dir) == shas[-1]
    assert repos.resolve_commit(git_dir, "main") == shas[-1]
    assert repos.resolve_commit(git_dir, "refs/heads/main") == shas[-1]
    assert repos.resolve_commit(git_dir, "v1") == shas[0]
    assert repos.resolve_commit(git_dir, shas[1][:8]) == shas[1]
    assert repos.resolve_commit(git_dir, shas[2].upper()[:12].lower()) == shas[2]
    with pytest.raises(NotFound):
        repos.resolve_commit(git_dir, "no-such-branch")


def test_read_head_of_a_repo_without_commits_is_none(tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    assert repos.read_head(work / ".git") is None


def test_a_missing_repo_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        repos.open_untrusted(tmp_path / "nothing" / ".git")


def test_a_gitfile_is_refused(worker: tuple[Path, list[str]], tmp_path: Path) -> None:
    work, _ = worker
    other = tmp_path / "other"
    other.mkdir()
    (other / ".git").write_text(f"gitdir: {work / '.git'}\n")
    with pytest.raises(HiveError, match="not a plain folder"):
        repos.open_untrusted(other / ".git")


def test_a_symlinked_git_dir_is_refused(worker: tuple[Path, list[str]], tmp_path: Path) -> None:
    work, _ = worker
    other = tmp_path / "other"
    other.mkdir()
    (other / ".git").symlink_to(work / ".git")
    with pytest.raises(HiveError, match="not a plain folder"):
        repos.open_untrusted(other / ".git")


def borrower(tmp_path: Path) -> tuple[Path, str]:
    """A repo whose commit the hostile proposed/ tries to reach: (its .git, the commit)."""
    secret = tmp_path / "secret"
    return secret / ".git", make_repo(secret, "manager")[0]


def test_a_repo_with_alternates_is_refused(
    worker: tuple[Path, list[str]], applied: Path, tmp_path: Path
) -> None:
    work, _ = worker
    secret_git, secret_sha = borrower(tmp_path)
    alternates = work / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(f"{secret_git / 'objects'}\n")
    # The trap is live: git itself now finds the other repo's commit through proposed/.
    assert git(work, "cat-file", "-t", secret_sha) == "commit"
    for call in (
        lambda: repos.open_untrusted(work / ".git"),
        lambda: repos.read_head(work / ".git"),
        lambda: repos.resolve_commit(work / ".git", secret_sha),
        lambda: repos.copy_commit(work / ".git", applied, secret_sha, BUDGET),
    ):
        with pytest.raises(HiveError, match="alternates"):
            call()
    assert not repos.commit_exists(applied, secret_sha)


def test_a_symlinked_alternates_file_is_refused(
    worker: tuple[Path, list[str]], tmp_path: Path
) -> None:
    work, _ = worker
    secret_git, _ = borrower(tmp_path)
    target = tmp_path / "alternates-elsewhere"
    target.write_text(f"{secret_git / 'objects'}\n")
    (work / ".git" / "objects" / "info" / "alternates").symlink_to(target)
    with pytest.raises(HiveError, match="alternates"):
        repos.open_untrusted(work / ".git")


def test_a_commondir_pointing_elsewhere_is_refused(
    worker: tuple[Path, list[str]], applied: Path, tmp_path: Path
) -> None:
    work, _ = worker
    secret_git, secret_sha = borrower(tmp_path)
    (work / ".git" / "commondir").write_text(f"{secret_git}\n")
    with pytest.raises(HiveError, match="commondir"):
        repos.open_untrusted(work / ".git")
    with pytest.raises(HiveError, match="commondir"):
        repos.copy_commit(work / ".git", applied, secret_sha, BUDGET)
    assert not repos.commit_exists(applied, secret_sha)


def test_a_symlinked_objects_folder_is_refused(
    worker: tuple[Path, list[str]], tmp_path: Path
) -> None:
    work, _ = worker
    secret_git, _ = borrower(tmp_path)
    objects = work / ".git" / "objects"
    objects.rename(work / ".git" / "objects-away")
    objects.symlink_to(secret_git / "objects")
    with pytest.raises(HiveError, match="symlink"):
        repos.open_untrusted(work / ".git")


# copy_commit


def test_copy_commit_brings_the_commit_and_its_history(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    copied = pin(work, applied, shas[1])
    assert copied > 0
    assert repos.commit_exists(applied, shas[0]) and repos.commit_exists(applied, shas[1])
    assert not repos.commit_exists(applied, shas[2])
    assert repos.is_ancestor(applied, shas[0], shas[1])
    assert not repos.is_ancestor(applied, shas[1], shas[0])
    assert repos.is_ancestor(applied, shas[1], shas[1])
    # What the controller lists is exactly what git itself lists for the commit.
    listed = {e.path: e for e in repos.list_tree(applied, shas[1], ROOMY).entries}
    oracle = ls_tree(work, shas[1])
    assert set(listed) == set(oracle) == {b"agent.toml", b"prompt.md", b"tools/search.sh"}
    for path, (mode, size) in oracle.items():
        assert listed[path].size == size
        kind = EntryKind.EXECUTABLE if mode == "100755" else EntryKind.FILE
        assert listed[path].kind is kind
    assert (
        repos.read_blob(applied, shas[1], "agent.toml")
        == (WORKER / "02-add-tool" / "agent.toml").read_bytes()
    )
    assert repos.get_ref(applied, repos.proposal_ref(1)) == shas[1]
    # applied.git is consistent by git's own check.
    assert git_result(applied, "fsck", "--full", "--strict").returncode == 0


def test_copy_commit_copies_only_what_applied_lacks(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    whole = repos.copy_commit(work / ".git", applied, shas[3], BUDGET)
    assert repos.copy_commit(work / ".git", applied, shas[3], BUDGET) == 0
    fresh = applied.parent / "fresh.git"
    repos.init_applied(fresh)
    first = repos.copy_commit(work / ".git", fresh, shas[2], BUDGET)
    rest = repos.copy_commit(work / ".git", fresh, shas[3], BUDGET)
    assert 0 < rest < whole
    assert first + rest == whole


def test_copy_commit_stops_at_the_byte_budget(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, _ = worker
    big = commit_files(work, {"blob.txt": os.urandom(4096).hex().encode()})
    with pytest.raises(HiveError, match="more than 4000 bytes"):
        repos.copy_commit(work / ".git", applied, big, 4000)
    # The refusal left nothing behind: a retry with room copies the whole commit again.
    assert not repos.commit_exists(applied, big)
    assert git(applied, "count-objects") == "0 objects, 0 kilobytes"
    assert repos.copy_commit(work / ".git", applied, big, BUDGET) > 8192
    assert repos.read_blob(applied, big, "blob.txt") == (work / "blob.txt").read_bytes()
    assert git_result(applied, "fsck", "--full", "--strict").returncode == 0


def test_copy_commit_refuses_an_incomplete_repo(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    blob = git(work, "rev-parse", f"{shas[1]}:tools/search.sh")
    loose = work / ".git" / "objects" / blob[:2] / blob[2:]
    data = loose.read_bytes()
    loose.unlink()
    with pytest.raises(HiveError, match="missing"):
        repos.copy_commit(work / ".git", applied, shas[1], BUDGET)
    assert git(applied, "count-objects") == "0 objects, 0 kilobytes"
    loose.write_bytes(data)
    repos.copy_commit(work / ".git", applied, shas[1], BUDGET)
    assert repos.read_blob(applied, shas[1], "tools/search.sh") is not None


def test_a_pinned_commit_survives_force_push_and_gc_in_the_source(
    tmp_path: Path, applied: Path
) -> None:
    source = tmp_path / "source.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(source))
    work = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(source), str(work))
    git(work, "checkout", "-q", "-b", "main")
    first = commit_step(work, "worker", "01-initial")
    pinned = commit_step(work, "worker", "02-add-tool")
    git(work, "push", "-q", "origin", "main")
    repos.copy_commit(source, applied, pinned, BUDGET)
    repos.set_ref(applied, repos.proposal_ref(1), pinned, "hive: pin #1")
    before = snapshot(applied, pinned, first)
    tool_blob = git(source, "rev-parse", f"{pinned}:tools/search.sh")

    git(work, "reset", "-q", "--hard", first)
    rewritten = commit_files(work, {"tools/search.sh": b"#!/bin/sh\necho other\n"}, "rewrite")
    git(work, "push", "-q", "--force", "origin", "main")
    git(source, "reflog", "expire", "--expire=now", "--all")
    git(source, "gc", "-q", "--prune=now")

    # The source really lost the pinned commit and its tool...
    assert repos.read_head(source) == rewritten
    assert git_result(source, "cat-file", "-e", pinned).returncode != 0
    assert git_result(source, "cat-file", "-e", tool_blob).returncode != 0
    # ...and nothing the controller reads of the pinned commit changed.
    assert repos.get_ref(applied, repos.proposal_ref(1)) == pinned
    assert snapshot(applied, pinned, first) == before
    assert (
        repos.read_blob(applied, pinned, "tools/search.sh")
        == (WORKER / "02-add-tool" / "tools" / "search.sh").read_bytes()
    )


def test_gc_in_applied_keeps_everything_under_refs_hive(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    git(work, "checkout", "-q", "-b", "side", shas[0])
    side = commit_files(work, {"stray.txt": b"only in an unreferenced commit\n"}, "stray")
    for sha in (*shas, side):
        repos.copy_commit(work / ".git", applied, sha, BUDGET)
    repos.set_ref(applied, repos.MAIN, shas[0], "hive: deploy #1")
    repos.set_ref(applied, repos.deployed_ref(1), shas[0], "hive: deployed #1")
    repos.set_ref(applied, repos.proposal_ref(2), shas[1], "hive: pin #2")
    repos.write_tag_ref(applied, repos.denied_ref(2), shas[1], "denied-2", "too broad")
    repos.set_ref(applied, repos.proposal_ref(3), shas[3], "hive: pin #3")
    repos.set_ref(applied, repos.failed_ref(3), shas[3], "hive: failed #3")
    kept = {sha: snapshot(applied, sha, None) for sha in (shas[0], shas[1], shas[3])}
    assert repos.commit_exists(applied, side)

    git(applied, "reflog", "expire", "--expire=now", "--all")
    git(applied, "gc", "-q", "--prune=now")

    # gc really pruned: the commit no ref points at is gone...
    assert not repos.commit_exists(applied, side)
    assert repos.commit_exists(applied, shas[2])  # history of refs/hive/proposals/3
    # ...and every commit under refs/hive/* is whole.
    for sha, before in kept.items():
        assert snapshot(applied, sha, None) == before
    assert git(applied, "rev-parse", f"{repos.denied_ref(2)}^{{commit}}") == shas[1]
    assert git_result(applied, "fsck", "--full", "--strict").returncode == 0


# hostile config in proposed/


def arm_traps(work: Path, tmp_path: Path) -> Callable[[], list[str]]:
    """Point every config knob and hook of work's repo at scripts that leave a marker.

    Returns a function listing the markers left so far.
    """
    markers = tmp_path / "markers"
    markers.mkdir()
    bin_dir = tmp_path / "trap-bin"
    hooks = tmp_path / "trap-hooks"
    bin_dir.mkdir()
    hooks.mkdir()

    def script(folder: Path, name: str) -> Path:
        path = folder / name
        path.write_text(f"#!/bin/sh\ntouch '{markers / name}'\nexit 0\n")
        path.chmod(0o755)
        return path

    hook_names = (
        "post-checkout",
        "pre-commit",
        "post-commit",
        "post-merge",
        "reference-transaction",
        "post-index-change",
        "pre-auto-gc",
        "fsmonitor-watchman",
    )
    for name in hook_names:
        script(hooks, name)
        (work / ".git" / "hooks" / name).write_text(
            f"#!/bin/sh\ntouch '{markers / ('dot-git-' + name)}'\n"
        )
        (work / ".git" / "hooks" / name).chmod(0o755)
    tools = {n: script(bin_dir, n) for n in ("fsmonitor", "pager", "diffext", "textconv")}
    filters = {n: script(bin_dir, n) for n in ("clean", "smudge", "process", "editor", "ssh")}
    with (work / ".git" / "config").open("a") as config:
        config.write(
            "[core]\n"
            f"\tfsmonitor = {tools['fsmonitor']}\n"
            f"\thooksPath = {hooks}\n"
            f"\tpager = {tools['pager']}\n"
            f"\teditor = {filters['editor']}\n"
            f"\tsshCommand = {filters['ssh']}\n"
            "[pager]\n\tlog = true\n\tdiff = true\n"
            f"[diff]\n\texternal = {tools['diffext']}\n"
            f'[diff "evil"]\n\ttextconv = {tools["textconv"]}\n'
            f'[filter "evil"]\n\tclean = {filters["clean"]}\n\tsmudge = {filters["smudge"]}\n'
            f"\tprocess = {filters['process']}\n\trequired = true\n"
        )
    return lambda: sorted(os.listdir(markers))


def test_hostile_config_and_hooks_in_proposed_run_nothing(
    worker: tuple[Path, list[str]], applied: Path, tmp_path: Path
) -> None:
    work, shas = worker
    attributes = b"* filter=evil diff=evil\n*.md -diff\n"
    head = commit_files(
        work,
        {".gitattributes": attributes, "prompt.md": b"# worker\n\nBe hostile.\n"},
        "poisoned",
    )
    fired = arm_traps(work, tmp_path)
    assert fired() == []

    git_dir = work / ".git"
    repos.open_untrusted(git_dir).close()
    assert repos.read_head(git_dir) == head
    assert repos.resolve_commit(git_dir, "main") == head
    pin(work, applied, head)
    diff = repos.diff_commits(applied, shas[-1], head)
    repos.diff_commits(applied, None, head)
    repos.list_tree(applied, head, ROOMY)
    tree = tmp_path / "run" / "trees" / head
    repos.materialize(applied, head, tree, ROOMY)
    repos.set_ref(applied, repos.MAIN, head, "hive: deploy #1")
    repos.commit_with_tree(applied, head, head, "rollback")

    assert fired() == []
    # The filter never ran: the materialised files are the committed bytes.
    assert (tree / ".gitattributes").read_bytes() == attributes
    assert (tree / "prompt.md").read_bytes() == b"# worker\n\nBe hostile.\n"
    assert ("+", "Be hostile.\n") in lines(by_path(diff)["prompt.md"])

    # The traps are live: the git CLI in proposed/ does run them.
    git_result(work, "status")
    assert "fsmonitor" in fired(), fired()


# diff_commits


@pytest.fixture
def pinned_diff(
    worker: tuple[Path, list[str]], applied: Path
) -> Callable[[dict[str, bytes | None]], ProposalDiff]:
    """Commit `files` on top of the worker repo, pin both, and diff them."""
    work, shas = worker

    def make(files: dict[str, bytes | None]) -> ProposalDiff:
        head = commit_files(work, files)
        repos.copy_commit(work / ".git", applied, head, BUDGET)
        return repos.diff_commits(applied, shas[-1], head)

    return make


def test_a_text_diff_has_hunks_with_line_numbers(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    old = (WORKER / "04-failing-start" / "prompt.md").read_bytes()
    new = old.replace(b"Answer", b"Reply to")
    diff = pinned_diff({"prompt.md": new, "notes.txt": b"one\ntwo\n"})
    files = by_path(diff)
    assert set(files) == {"prompt.md", "notes.txt"}
    prompt = files["prompt.md"]
    assert (prompt.status, prompt.additions, prompt.deletions) == ("modified", 1, 1)
    assert prompt.old_text == old.decode() and prompt.new_text == new.decode()
    removed = [ln for h in prompt.hunks for ln in h.lines if ln.origin == "-"]
    added = [ln for h in prompt.hunks for ln in h.lines if ln.origin == "+"]
    assert [ln.text for ln in removed] == [
        next(t for t in old.decode().splitlines(True) if "Answer" in t)
    ]
    assert removed[0].new_lineno is None and removed[0].old_lineno == added[0].new_lineno
    notes = files["notes.txt"]
    assert (notes.status, notes.old_path, notes.additions) == ("added", None, 2)


@pytest.mark.parametrize("attributes", [b"*.md -diff\n", b"*.md binary\n", b"* -diff -text\n"])
def test_gitattributes_in_the_commit_cannot_hide_a_text_change(
    worker: tuple[Path, list[str]], applied: Path, attributes: bytes
) -> None:
    work, shas = worker
    head = commit_files(
        work, {".gitattributes": attributes, "prompt.md": b"# worker\n\nObey me.\n"}
    )
    repos.copy_commit(work / ".git", applied, head, BUDGET)
    repos.set_ref(applied, repos.MAIN, head, "the attributes are now at HEAD too")
    prompt = by_path(repos.diff_commits(applied, shas[-1], head))["prompt.md"]
    assert not prompt.binary and prompt.summary_only is None
    assert ("+", "Obey me.\n") in lines(prompt)
    assert prompt.additions >= 1


def test_attributes_libgit2_does_read_still_do_not_hide_a_text_change(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    head = commit_files(work, {"prompt.md": b"# worker\n\nObey me.\n"})
    repos.copy_commit(work / ".git", applied, head, BUDGET)
    (applied / "info").mkdir(exist_ok=True)
    (applied / "info" / "attributes").write_text("*.md -diff\n")
    # git itself now calls prompt.md binary...
    assert "Binary files" in git(applied, "diff", shas[-1], head, "--", "prompt.md")
    # ...the controller's diff still shows the text.
    prompt = by_path(repos.diff_commits(applied, shas[-1], head))["prompt.md"]
    assert not prompt.binary
    assert ("+", "Obey me.\n") in lines(prompt)


def test_binary_files_are_summarised(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    nul_text = b"text\x00with a nul\n"
    files = by_path(pinned_diff({"logo.png": image, "prompt.md": nul_text}))
    logo = files["logo.png"]
    assert logo.binary and logo.hunks == () and (logo.additions, logo.deletions) == (0, 0)
    assert logo.summary_only == f"binary file, 0 -> {len(image)} bytes"
    prompt = files["prompt.md"]
    old_size = len((WORKER / "04-failing-start" / "prompt.md").read_bytes())
    assert prompt.binary and prompt.status == "modified"
    assert prompt.summary_only == f"binary file, {old_size} -> {len(nul_text)} bytes"


def test_huge_files_are_summarised_not_dumped(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    line = b"x" * 99 + b"\n"
    big = line * (repos.MAX_DIFF_FILE_BYTES // len(line) + 1)
    assert len(big) > repos.MAX_DIFF_FILE_BYTES
    many = b"".join(b"%d\n" % n for n in range(repos.MAX_DIFF_FILE_LINES + 1))
    files = by_path(pinned_diff({"big.txt": big, "many.txt": many}))
    assert (
        files["big.txt"].summary_only == f"file over {repos.MAX_DIFF_FILE_BYTES} bytes, not shown"
    )
    assert files["big.txt"].additions == big.count(b"\n")
    assert (
        files["many.txt"].summary_only
        == f"{repos.MAX_DIFF_FILE_LINES + 1} changed lines, not shown"
    )
    for name in ("big.txt", "many.txt"):
        assert files[name].hunks == () and files[name].new_text is None
        assert not files[name].binary


def test_the_whole_diff_stops_at_the_total_line_budget(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    per_file = repos.MAX_DIFF_FILE_LINES - 1
    count = repos.MAX_DIFF_TOTAL_LINES // per_file + 1
    body = b"".join(b"%d\n" % n for n in range(per_file))
    diff = pinned_diff({f"part{n}.txt": body for n in range(count)})
    parts = [f for f in diff.files if f.path.startswith("part")]
    shown = [f for f in parts if f.hunks]
    cut = [f for f in parts if f.summary_only == repos.TRUNCATED_NOTE]
    assert len(parts) == count
    assert len(shown) == repos.MAX_DIFF_TOTAL_LINES // per_file
    assert len(cut) == count - len(shown) and cut
    assert sum(f.additions for f in shown) <= repos.MAX_DIFF_TOTAL_LINES
    assert diff.truncated is not None and str(repos.MAX_DIFF_TOTAL_LINES) in diff.truncated


def test_renames_are_found(
    worker: tuple[Path, list[str]],
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    work, _ = worker
    prompt = (work / "prompt.md").read_bytes()
    toml = (work / "agent.toml").read_bytes()
    files = by_path(
        pinned_diff(
            {
                "prompt.md": None,
                "docs/instructions.md": prompt,
                "agent.toml": None,
                "spec.toml": toml + b"# one more line\n",
            }
        )
    )
    assert set(files) == {"docs/instructions.md", "spec.toml"}
    moved = files["docs/instructions.md"]
    assert (moved.status, moved.old_path, moved.additions, moved.deletions) == (
        "renamed",
        "prompt.md",
        0,
        0,
    )
    edited = files["spec.toml"]
    assert (edited.status, edited.old_path, edited.additions) == ("renamed", "agent.toml", 1)


def test_deleted_files_have_no_new_path(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    files = by_path(pinned_diff({"prompt.md": None}))
    gone = files["prompt.md"]
    assert (gone.status, gone.new_path, gone.old_path, gone.additions) == (
        "deleted",
        None,
        "prompt.md",
        0,
    )
    assert gone.deletions == len(
        (WORKER / "04-failing-start" / "prompt.md").read_text().splitlines()
    )


def test_non_utf8_content_and_paths_become_replacement_characters(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    latin_name = os.fsdecode(b"r\xe9sum\xe9.md")
    diff = pinned_diff({"prompt.md": b"caf\xe9 cr\xe8me\n", latin_name: b"na\xefve\n"})
    files = by_path(diff)
    assert set(files) == {"prompt.md", "r\ufffdsum\ufffd.md"}
    prompt = files["prompt.md"]
    assert not prompt.binary
    assert ("+", "caf\ufffd cr\ufffdme\n") in lines(prompt)
    assert prompt.new_text == "caf\ufffd cr\ufffdme\n"
    latin = files["r\ufffdsum\ufffd.md"]
    assert latin.status == "added" and lines(latin) == [("+", "na\ufffdve\n")]
    assert [f.to_json() for f in diff.files]  # serialisable as it is


def test_a_diff_against_the_empty_tree_adds_every_file(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    pin(work, applied, shas[1])
    diff = repos.diff_commits(applied, None, shas[1])
    assert diff.base is None and diff.head == shas[1]
    assert {f.path: f.status for f in diff.files} == {
        "agent.toml": "added",
        "prompt.md": "added",
        "tools/search.sh": "added",
    }
    script = by_path(diff)["tools/search.sh"]
    assert script.additions == len(
        (WORKER / "02-add-tool/tools/search.sh").read_text().splitlines()
    )
    assert all(f.old_path is None and f.deletions == 0 for f in diff.files)


# list_tree, validation of a real tree, materialize


def special_commit(work: Path) -> str:
    """A commit holding a symlink, an executable and a submodule (gitlink)."""
    (work / "link.md").symlink_to("prompt.md")
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    git(work, "add", "-A")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{'ab' * 20},vendor/lib")
    git(work, "commit", "-q", "-m", "special entries")
    return git(work, "rev-parse", "HEAD")


def test_list_tree_reports_kinds_and_validation_flags_them(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, _ = worker
    head = special_commit(work)
    pin(work, applied, head)  # the submodule's commit is not ours to copy
    entries = {e.path: e for e in repos.list_tree(applied, head, ROOMY).entries}
    assert set(entries) == set(ls_tree(work, head))
    assert entries[b"link.md"].kind is EntryKind.SYMLINK
    assert entries[b"link.md"].size == len("prompt.md")
    assert entries[b"run.sh"].kind is EntryKind.EXECUTABLE
    assert entries[b"vendor/lib"].kind is EntryKind.SUBMODULE
    assert entries[b"agent.toml"].kind is EntryKind.FILE
    limits = Limits(max_file_bytes=10_000, max_tree_bytes=100_000, max_files=100)
    flagged = {p.file: p.message for p in validate_tree(list(entries.values()), limits)}
    assert set(flagged) == {"link.md", "vendor/lib"}
    assert repos.read_blob(applied, head, "link.md") is None
    assert repos.read_blob(applied, head, "vendor/lib") is None
    assert repos.read_blob(applied, head, "tools") is None
    assert repos.read_blob(applied, head, "missing.txt") is None
    assert repos.read_blob(applied, head, "run.sh") == b"#!/bin/sh\necho hi\n"


def test_materialize_writes_regular_files_only(
    worker: tuple[Path, list[str]], applied: Path, tmp_path: Path
) -> None:
    work, shas = worker
    git(work, "checkout", "-q", "-b", "tools", shas[1])
    latin_name = os.fsdecode(b"caf\xe9.txt")
    (work / latin_name).write_bytes(b"latin\n")
    head = special_commit(work)
    pin(work, applied, head)
    trees = tmp_path / "run" / "trees"
    dest = trees / head
    repos.materialize(applied, head, dest, ROOMY)
    written = sorted(os.fsencode(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir())
    assert written == sorted(
        path for path, (mode, _) in ls_tree(work, head).items() if mode in ("100644", "100755")
    )
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    for path in written:
        assert (dest / os.fsdecode(path)).read_bytes() == repos.read_blob(
            applied, head, os.fsdecode(path)
        )
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "tools" / "search.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "agent.toml").stat().st_mode) == 0o644
    assert os.listdir(trees) == [head]  # no staging folder left behind

    (dest / "agent.toml").write_text("changed by hand")
    repos.materialize(applied, head, dest, ROOMY)  # already there: left alone
    assert (dest / "agent.toml").read_text() == "changed by hand"


def test_materialize_refuses_a_tree_entry_that_climbs_out(
    worker: tuple[Path, list[str]], applied: Path, tmp_path: Path
) -> None:
    work, _ = worker
    blob = git(work, "hash-object", "-w", "--stdin", check=True)
    raw_blob = bytes.fromhex(blob)
    raw_tree = b"100644 ../escaped\0" + raw_blob + b"100644 ok.txt\0" + raw_blob
    tree_file = tmp_path / "tree.bin"
    tree_file.write_bytes(raw_tree)
    tree = git(work, "hash-object", "-t", "tree", "--literally", "-w", str(tree_file))
    head = git(work, "commit-tree", tree, "-m", "climb out")
    pin(work, applied, head)
    entries = repos.list_tree(applied, head, ROOMY).entries
    assert [e.path for e in entries] == [b"../escaped", b"ok.txt"]
    limits = Limits(max_file_bytes=10_000, max_tree_bytes=100_000, max_files=100)
    assert [p.file for p in validate_tree(entries, limits)] == ["../escaped"]
    trees = tmp_path / "run" / "trees"
    with pytest.raises(HiveError, match="unsafe path"):
        repos.materialize(applied, head, trees / head, ROOMY)
    assert os.listdir(trees) == []
    assert not (trees / "escaped").exists() and not (tmp_path / "run" / "escaped").exists()


# refs written by the controller


def test_ref_moves_are_logged_and_denials_are_annotated_tags(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    for sha in shas:
        repos.copy_commit(work / ".git", applied, sha, BUDGET)
    repos.set_ref(applied, repos.MAIN, shas[0], "hive: deploy #1")
    repos.set_ref(applied, repos.MAIN, shas[1], "hive: deploy #2")
    log = git(applied, "reflog", "show", "--format=%H %gs", repos.MAIN).splitlines()
    assert log == [f"{shas[1]} hive: deploy #2", f"{shas[0]} hive: deploy #1"]
    assert repos.get_ref(applied, repos.MAIN) == shas[1]
    assert repos.get_ref(applied, repos.proposal_ref(99)) is None

    repos.write_tag_ref(applied, repos.denied_ref(3), shas[2], "denied-3", "too broad\n\n")
    ref = repos.denied_ref(3)
    assert git(applied, "cat-file", "-t", ref) == "tag"
    assert git(applied, "rev-parse", f"{ref}^{{commit}}") == shas[2]
    assert git(applied, "for-each-ref", "--format=%(contents)", ref) == "too broad"
    assert git_result(applied, "fsck", "--full", "--strict").returncode == 0

    rollback = repos.commit_with_tree(applied, shas[0], shas[1], "rollback to #1\n\ndetails")
    assert git(applied, "rev-parse", f"{rollback}^{{tree}}") == git(
        applied, "rev-parse", f"{shas[0]}^{{tree}}"
    )
    assert git(applied, "rev-parse", f"{rollback}^") == shas[1]
    assert repos.commit_summary(applied, rollback) == "rollback to #1"
    assert repos.get_ref(applied, repos.MAIN) == shas[1]  # no ref moved
    assert repos.match_prefix(applied, rollback[:10]) == rollback
    with pytest.raises(NotFound):
        repos.match_prefix(applied, "0000000000")


def test_an_ambiguous_prefix_is_a_conflict(applied: Path) -> None:
    seen: dict[str, bytes] = {}
    for n in range(100_000):
        body = b"blob %d\n" % n
        prefix = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()[:4]
        if prefix in seen:
            pair = (seen[prefix], body)
            break
        seen[prefix] = body
    shas = []
    for body in pair:
        path = applied.parent / "blob.txt"
        path.write_bytes(body)
        shas.append(git(applied, "hash-object", "-w", str(path)))
    assert shas[0][:4] == shas[1][:4] and shas[0] != shas[1]
    with pytest.raises(Conflict, match="ambiguous"):
        repos.match_prefix(applied, shas[0][:4])
    assert repos.match_prefix(applied, shas[0][:12]) == shas[0]


def test_a_file_turned_into_a_symlink_is_a_typechange(
    worker: tuple[Path, list[str]], applied: Path
) -> None:
    work, shas = worker
    (work / "agent.toml").unlink()
    (work / "agent.toml").symlink_to("prompt.md")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "agent.toml becomes a link")
    head = git(work, "rev-parse", "HEAD")
    pin(work, applied, head)
    diff = repos.diff_commits(applied, shas[-1], head)
    assert [(f.path, f.status) for f in diff.files] == [("agent.toml", "typechange")]
    changed = diff.files[0]
    assert changed.new_text == "prompt.md"  # the link target, shown as text
    last_step = sorted(p for p in WORKER.iterdir() if p.is_dir())[-1]
    assert changed.old_text == (last_step / "agent.toml").read_text()


def test_control_characters_in_file_names_cannot_forge_lines_of_show_or_stat(
    pinned_diff: Callable[[dict[str, bytes | None]], ProposalDiff],
) -> None:
    forged = "notes.md\n+++ b/agent.toml\x1b[2K"
    diff = pinned_diff({forged: b"hello\n"})
    stat_lines = render_stat(diff).splitlines()
    assert stat_lines[0].startswith(" notes.md\\x0a+++ b/agent.toml\\x1b[2K ")
    assert len(stat_lines) == 2  # the one file, then the totals
    patch = render_patch(diff)
    assert "diff /dev/null b/notes.md\\x0a+++ b/agent.toml\\x1b[2K (added)" in patch
    assert "\x1b" not in patch and "\n+++ b/agent.toml" not in patch.replace(
        "+++ b/notes.md\\x0a+++ b/agent.toml", ""
    )
