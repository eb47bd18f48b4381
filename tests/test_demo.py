"""`make demo` copes: a busy port, a second demo on the same root, a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.repo_factory import git

pytestmark = pytest.mark.e2e


def _start(root: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitops_hive.demo", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DEMO_PORT": str(port)},
    )


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in the demo's output:\n{''.join(seen)}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_busy_port_a_second_demo_and_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "hive"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        first = _start(root, taken)
        try:
            out = _read_until(first, "Dashboard:")
            assert f"port {taken} is taken: using" in out
            second = subprocess.run(
                [sys.executable, "-m", "gitops_hive.demo", "--root", str(root)],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "DEMO_PORT": str(taken)},
            )
            assert second.returncode == 2
            assert second.stderr.strip().splitlines() == [
                f"demo: a controller already runs for {root}: stop it first, or use another --root"
            ]
        finally:
            _stop(first)
    proposed = root / "agents" / "demo-worker" / "proposed"
    commits = git(proposed, "rev-list", "--count", "HEAD")
    again = _start(root, taken)
    try:
        _read_until(again, "Dashboard:")
    finally:
        _stop(again)
    assert git(proposed, "rev-list", "--count", "HEAD") == commits  # not committed twice
