"""The controller's own reader of proposed/'s packs: exact on what git writes (deep delta
chains included), and a one-line refusal, never a hang, a loop or a crash, on what a hostile
manager can write instead."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_hive import repos
from gitops_hive.errors import HiveError
from gitops_hive.repos.packs import MAX_DELTA_DEPTH
from tests.hostile_objects import PackBuilder, blob_id, commit_blob, copy_delta
from tests.repo_factory import GIT_ENV, git, make_repo
from tests.test_damaged_repos import assert_one_line

BUDGET = 64 << 20


def cat_all(repo: Path, objects: list[str]) -> bytes:
    """git's own bytes of `objects` (cat-file --batch), the oracle for what was copied."""
    return subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="\n".join(objects).encode() + b"\n",
        capture_output=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def test_deep_delta_chains_copy_byte_for_byte(tmp_path: Path) -> None:
    work = tmp_path / "proposed"
    make_repo(work, "worker")
    lines = [f"line {n}\n" for n in range(400)]
    for step in range(60):  # each revision a little longer: a long chain of deltas
        lines[(step * 37) % 400] = f"edited at step {step}\n"
        lines.append(f"grown at step {step}\n")
        (work / "notes.txt").write_text("".join(lines))
        git(work, "add", "notes.txt")
        git(work, "commit", "-qm", f"step {step}")
    depth = 0
    for window in (2, 10, 250):  # which window makes git chain deepest varies from run to run
        git(work, "repack", "-adfq", "--depth=250", f"--window={window}")
        idx = [str(p) for p in (work / ".git/objects/pack").glob("*.idx")]
        chains = git(work, "verify-pack", "-v", *idx)
        depth = max(int(n) for n in re.findall(r"chain length = (\d+)", chains))
        if depth >= 20:
            break
    assert depth >= 20  # the pack really holds deep chains
    git(work, "prune-packed")
    head = git(work, "rev-parse", "HEAD")
    applied = tmp_path / "applied.git"
    repos.init_applied(applied)
    repos.copy_commit(work / ".git", applied, head, BUDGET)
    objects = git(work, "rev-list", "--objects", "--no-object-names", head).split()
    assert cat_all(applied, objects) == cat_all(work, objects)
    prefix = objects[len(objects) // 2][:10]
    if git(work, "cat-file", "-t", prefix) == "commit":
        assert repos.resolve_commit(work / ".git", prefix) == objects[len(objects) // 2]


def _past_itself(pack: PackBuilder) -> str:
    oid = blob_id(b"loop")
    # An offset delta 0 bytes back names itself as its base.
    pack.raw(oid, 6, 10, b"\x00")  # the header's base-offset byte 0, then no zlib data
    return oid


def _thin(pack: PackBuilder) -> str:
    oid = blob_id(b"thin!")
    pack.ref_delta(oid, blob_id(b"not in this pack"), copy_delta(16, 5))
    return oid


def _ref_cycle(pack: PackBuilder) -> str:
    first, second = blob_id(b"first"), blob_id(b"second")
    pack.ref_delta(first, second, copy_delta(6, 5))
    pack.ref_delta(second, first, copy_delta(5, 6))
    return first


def _too_deep(pack: PackBuilder) -> str:
    oid, offset = pack.blob(b"x" * 100)
    for level in range(MAX_DELTA_DEPTH + 1):  # each level under an id of its own
        oid = hashlib.sha1(b"level %d" % level).hexdigest()
        offset = pack.ofs_delta(oid, offset, copy_delta(100, 100))
    return oid


def _lies_about_its_size(pack: PackBuilder) -> str:
    data = b"twelve bytes"
    oid = blob_id(data)
    pack.raw(oid, 3, 5, zlib.compress(data))
    return oid


def _copies_outside_its_base(pack: PackBuilder) -> str:
    _, base = pack.blob(b"short")
    oid = blob_id(b"x" * 200)
    pack.ofs_delta(oid, base, copy_delta(5, 200))
    return oid


CRAFTED: list[Callable[[PackBuilder], str]] = [
    _past_itself,
    _thin,
    _ref_cycle,
    _too_deep,
    _lies_about_its_size,
    _copies_outside_its_base,
]


@pytest.mark.parametrize("craft", CRAFTED, ids=lambda c: c.__name__.strip("_"))
def test_a_hostile_pack_is_a_one_line_refusal(tmp_path: Path, craft: Callable[..., str]) -> None:
    work = tmp_path / "agents" / "worker" / "proposed"
    make_repo(work, "worker")
    pack = PackBuilder()
    oid = craft(pack)
    pack.write(work / ".git")
    head = commit_blob(work, "crafted.bin", oid)
    applied = tmp_path / "applied.git"
    repos.init_applied(applied)
    with pytest.raises(HiveError) as refused:
        repos.copy_commit(work / ".git", applied, head, BUDGET)
    assert_one_line(refused.value, work)
    assert git(applied, "count-objects") == "0 objects, 0 kilobytes"


def test_a_pack_cut_short_while_it_is_read_is_a_refusal(tmp_path: Path) -> None:
    work = tmp_path / "agents" / "worker" / "proposed"
    make_repo(work, "worker")
    git(work, "repack", "-adq")
    git(work, "prune-packed")
    (pack,) = (work / ".git" / "objects" / "pack").glob("*.pack")
    applied = tmp_path / "applied.git"
    repos.init_applied(applied)
    with repos.open_untrusted(work / ".git") as repo:
        head = repo.refs.target(repos.MAIN)
        assert head is not None
        os.truncate(pack, 64)  # libgit2 would have it mapped: a SIGBUS, not an error
        with pytest.raises(Exception) as refused:
            repo.repo[head]
    assert "pack" in str(refused.value)
