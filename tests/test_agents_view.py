"""AgentsView against the real kernel: binds reach a namespace that was made before them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_hive.runtime.agents_view import AgentsView, mount_points_under
from gitops_hive.runtime.base import OWN_MOUNT_NAMESPACE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"),
    reason="needs root, unshare and nsenter (util-linux) to make mounts",
)
MANAGER_UID = 6_000_000  # an unused uid: the view hands config (and a draft's state) to it


@contextlib.contextmanager
def namespace_copy() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a new mount namespace, its mounts slaves of ours: what the manager's
    container is once it started with the view bound in."""
    process = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "sleep", "60"])
    try:
        time.sleep(0.2)  # unshare has made its namespace
        yield process
    finally:
        process.kill()
        process.wait()


def seen_by(process: subprocess.Popen[bytes], script: str) -> str:
    """What `script` prints in `process`'s mount namespace."""
    done = subprocess.run(
        ["nsenter", f"--target={process.pid}", "--mount", "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


@pytest.mark.parametrize(
    "namespace",
    [OWN_MOUNT_NAMESPACE, Path(f"/proc/{os.getpid()}/ns/mnt")],
    ids=["ours", "entered with nsenter"],
)
def test_shown_entries_reach_a_namespace_made_before_them(tmp_path: Path, namespace: Path) -> None:
    config, state, deployed = tmp_path / "config", tmp_path / "state", tmp_path / "deployed"
    for folder in (config, state, deployed):
        folder.mkdir()
    (deployed / "notes.md").write_text("mine\n")
    view = AgentsView(tmp_path / "view", tmp_path / "staging", namespace)
    view.reset()
    with contextlib.ExitStack() as stack:
        stack.callback(view.close)
        later = stack.enter_context(namespace_copy())  # started before the drafts
        view.show("draft", config, state, manager_uid=MANAGER_UID, state_writable=True)
        view.show("worker", config, deployed, manager_uid=MANAGER_UID, state_writable=False)
        entries = f"{tmp_path}/view"
        script = (
            f"ls {entries}; touch {entries}/draft/state/staged && echo draft writable; "
            f"cat {entries}/worker/state/notes.md; "
            f"touch {entries}/worker/state/x 2>/dev/null || echo worker read-only"
        )
        assert seen_by(later, script).split() == [
            "draft",
            "worker",
            "draft",
            "writable",
            "mine",
            "worker",
            "read-only",
        ]
        assert (state / "staged").exists() and state.stat().st_uid == MANAGER_UID
        assert config.stat().st_uid == MANAGER_UID and deployed.stat().st_uid == 0
        view.hide("draft")
        assert seen_by(later, f"ls {entries}").split() == ["worker"]
    assert mount_points_under(tmp_path) == []
    assert not (tmp_path / "view").exists() and (deployed / "notes.md").read_text() == "mine\n"
