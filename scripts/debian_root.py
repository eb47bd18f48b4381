"""Make the minimal Debian (systemd + dbus) the D-Bus tests boot, once, in .cache/.

`make test` runs this before pytest (a test's own time limit is too short for debootstrap).
It uses the Debian mirror and suite this machine's apt already uses, and does nothing where it
cannot run (not root, no debootstrap): the tests then skip and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops_hive.runtime.debian import host_mirror, host_suite  # noqa: E402

DEST = ROOT / ".cache" / "debian-systemd"
LOG = ROOT / ".cache" / "debootstrap.log"


def mounts_under(path: Path) -> list[Path]:
    """Mount points inside `path`, deepest first (an interrupted debootstrap leaves /proc)."""
    found = []
    prefix = str(path.resolve()) + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_staging(staging: Path) -> None:
    """Remove a half-made root, unmounting first: never delete through a mounted /proc."""
    for point in mounts_under(staging):
        subprocess.run(["umount", "--lazy", str(point)], check=True)
    if mounts_under(staging):
        raise SystemExit(f"error: {staging} still has mounts inside; unmount them by hand")
    shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    if (DEST / "lib" / "systemd" / "systemd").exists():
        return 0
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        print("note: the D-Bus tests need root and debootstrap; they will skip", file=sys.stderr)
        return 0
    where, codename = host_mirror(), host_suite()
    if where is None or codename is None:
        print(
            "error: no Debian mirror or suite in apt's sources to debootstrap from", file=sys.stderr
        )
        return 1
    staging = DEST.with_name(DEST.name + ".tmp")
    remove_staging(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    print(f"making {DEST.relative_to(ROOT)} with debootstrap ({codename}; once, about a minute)")
    with LOG.open("wb") as log:
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=systemd,dbus",
                codename,
                str(staging),
                where,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = LOG.read_text(errors="replace").splitlines()[-5:]
        print(f"error: debootstrap failed ({LOG}):", *tail, sep="\n  ", file=sys.stderr)
        remove_staging(staging)
        return 1
    staging.rename(DEST)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
