"""The proposed/ hooks' ping: a real `git commit` with the shipped hooks sends the agent's
name to a bound datagram socket (logger, or python3 where logger is missing), and a commit
never fails or waits when nobody listens."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_hive.hook_pings import agent_of_datagram
from gitops_hive.repos import write_hooks
from tests.repo_factory import GIT_ENV, git, make_repo


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    try:
        yield path, sock
    finally:
        sock.close()


def commit(repo: Path, path: str | None = None) -> None:
    """`git commit` as the manager runs it (under `path` as PATH, if given)."""
    (repo / "prompt.md").write_text("A new thought.\n")
    env = {**os.environ, **GIT_ENV, **({"PATH": path} if path else {})}
    for args in (["add", "-A"], ["commit", "-qm", "change"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def hooked_repo(tmp_path: Path, notify: Path) -> Path:
    """A proposed/ repo of agent `worker` whose hooks ping `notify`."""
    repo = tmp_path / "proposed"
    make_repo(repo, "worker")
    write_hooks(repo, "worker", notify)
    return repo


def test_a_commit_pings_with_the_agents_name(
    tmp_path: Path, listening: tuple[Path, socket.socket]
) -> None:
    path, sock = listening
    commit(hooked_repo(tmp_path, path))
    assert agent_of_datagram(sock.recv(512)) == "worker"


def test_without_logger_python3_pings(
    tmp_path: Path, listening: tuple[Path, socket.socket]
) -> None:
    path, sock = listening
    repo = hooked_repo(tmp_path, path)
    bin_dir = tmp_path / "bin"  # what the hooks use, logger left out
    bin_dir.mkdir()
    for tool in ("git", "sh", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(Path(sys.executable).resolve())
    commit(repo, str(bin_dir))
    assert agent_of_datagram(sock.recv(512)) == "worker"


def test_nobody_listening_never_fails_the_commit(tmp_path: Path) -> None:
    repo = hooked_repo(tmp_path, tmp_path / "gone.sock")
    commit(repo)
    assert git(repo, "log", "-1", "--format=%s") == "change"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"worker", "worker"),
        (b"<13>Dec  2 10:00:00 hive: worker-2", "worker-2"),
        (b"<13>Dec  2 10:00:00 hive: ../etc", None),
        (b"", None),
        (b"\xff\xfe", None),
    ],
)
def test_what_a_ping_may_name(data: bytes, name: str | None) -> None:
    assert agent_of_datagram(data) == name
