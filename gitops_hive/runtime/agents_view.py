"""The manager's /agents: a host folder of bind mounts that its running container sees change.

The folder is bound onto itself and made a shared mount (a peer group of its own);
systemd-nspawn's bind of it into the manager's container is then a slave of it, so a bind
made here later (a new draft) appears inside at once, and an unmount disappears there too.
A read-only bind must be read-only when it arrives (a remount does not propagate): it is
made read-only in a private staging mount first and then moved in. Root inside the
container cannot unmount or remount what arrived this way (the kernel locks mounts that
come from a more privileged namespace). The commands run in the mount namespace the
manager's container starts in: ours for a child, systemd's (entered with nsenter) for a unit,
since a hardened service runs in a private one. Blocking: call it off the event loop.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime.base import OWN_MOUNT_NAMESPACE
from gitops_hive.runtime.nspawn import chown_tree

log = logging.getLogger(__name__)
MOUNT = "mount"
UMOUNT = "umount"
OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class MountCommands:
    """mount and umount, run in a given mount namespace (entered with nsenter unless ours)."""

    def __init__(self, namespace: Path) -> None:
        self.namespace = namespace

    def __call__(self, *argv: str) -> None:
        command = list(argv)
        if self.namespace != OWN_MOUNT_NAMESPACE:
            command = ["nsenter", f"--mount={self.namespace}", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeFailure(f"{' '.join(argv)} failed: {done.stderr.strip()[:300]}")

    def unmount_all(self, folder: Path) -> None:
        """Detach every mount at or under `folder` (lazily: a busy one goes when let go)."""
        for point in mount_points_under(folder, self.namespace):
            self(UMOUNT, "--lazy", str(point))


def mount_points_under(folder: Path, namespace: Path = OWN_MOUNT_NAMESPACE) -> list[Path]:
    """Mount points at or under `folder` in a mount namespace (/proc/PID/ns/mnt), deepest
    first."""
    found: list[Path] = []
    for line in (namespace.parent.parent / "mountinfo").read_text().splitlines():
        target = OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), line.split(" ")[4])
        path = Path(target)
        if path == folder or path.is_relative_to(folder):
            found.append(path)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def remove_empty(folder: Path) -> None:
    """Remove `folder` and its empty folders; never a file (what a bind showed stays where
    it lives: an rmdir refuses where an unmount did not happen)."""
    if not folder.is_dir():
        return
    for parent, dirs, _ in os.walk(folder, topdown=False):
        for name in dirs:
            os.rmdir(os.path.join(parent, name))
    folder.rmdir()


class AgentsView:
    """`folder`, bound at /agents in the manager's container: NAME/config and NAME/state."""

    def __init__(self, folder: Path, staging: Path, namespace: Path = OWN_MOUNT_NAMESPACE) -> None:
        self.folder = folder
        self.staging = staging
        self._run = MountCommands(namespace)  # the namespace the manager's container starts in
        self._lock = threading.Lock()  # one change at a time (each runs in its own thread)

    def reset(self) -> None:
        """An empty view: what a previous controller left unmounted, then the shared bind."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        for path in (self.folder, self.staging):
            self._run.unmount_all(path)
            remove_empty(path)
            path.mkdir(mode=0o755, parents=True)
            self._run(MOUNT, "--bind", str(path), str(path))
        self._run(MOUNT, "--make-private", str(self.folder))
        self._run(MOUNT, "--make-shared", str(self.folder))
        self._run(MOUNT, "--make-private", str(self.staging))

    def show(
        self, name: str, config: Path, state: Path, *, manager_uid: int, state_writable: bool
    ) -> None:
        """NAME/config (the manager's to commit to) and NAME/state (the manager's to write
        while `state_writable`, else read-only), replacing what was there."""
        with self._lock:
            self._hide(name)
            self._show(name, config, state, manager_uid, state_writable)

    def _show(
        self, name: str, config: Path, state: Path, manager_uid: int, state_writable: bool
    ) -> None:
        entry = self.folder / name
        for part in ("config", "state"):
            (entry / part).mkdir(mode=0o755, parents=True, exist_ok=True)
        for path in chown_tree(config, manager_uid):
            log.warning("agents view: left %s as it is (a file with several links)", path)
        self._run(MOUNT, "--bind", str(config), str(entry / "config"))
        if state_writable:
            chown_tree(state, manager_uid)
            self._run(MOUNT, "--bind", str(state), str(entry / "state"))
            return
        staged = self.staging / name
        staged.mkdir(exist_ok=True)
        self._run(MOUNT, "--bind", str(state), str(staged))
        try:
            self._run(MOUNT, "-o", "remount,bind,ro", str(staged))
            self._run(MOUNT, "--move", str(staged), str(entry / "state"))
        except RuntimeFailure:
            self._run.unmount_all(staged)
            raise
        finally:
            staged.rmdir()

    def hide(self, name: str) -> None:
        """NAME gone from the view (and from the running container's /agents)."""
        with self._lock:
            self._hide(name)

    def _hide(self, name: str) -> None:
        entry = self.folder / name
        self._run.unmount_all(entry)
        remove_empty(entry)

    def close(self) -> None:
        """Every mount of the view undone (the controller is stopping)."""
        with self._lock:
            for path in (self.folder, self.staging):
                self._run.unmount_all(path)
            for path in (self.folder, self.staging):
                try:
                    remove_empty(path)
                except OSError as exc:  # a file where only folders belong: left for a look
                    log.warning("agents view: %s stays: %s", path, exc)
