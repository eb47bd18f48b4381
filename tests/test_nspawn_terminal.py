"""The terminal into a real systemd-nspawn container, from Chromium: root inside, the
agent's base uid outside, in /state."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.chromium import Watched
from tests.conftest import ServedHive
from tests.test_browser_terminal import SCREEN, open_terminal, type_line
from tests.test_nspawn import base_of, log_of, nspawn_hive

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn, pytest.mark.browser]
__all__ = ["nspawn_hive"]  # a fixture, used by name
MARKER = "sleep 7919"


def host_uid_of(command: str) -> int | None:
    """The real uid, as the host sees it, of the process running `command`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            status = (proc / "status").read_text()
        except OSError:
            continue
        if cmdline == command:
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            return int(uid_line.split()[1])
    return None


def test_the_shell_is_root_inside_and_the_agents_base_uid_outside(
    nspawn_hive: ServedHive, browser: BrowserContext
) -> None:
    nspawn_hive.deploy("worker")
    nspawn_hive.wait_for(lambda: "probe ready" in log_of(nspawn_hive, "worker"), timeout=20)
    watched = Watched(browser)
    page, _ = open_terminal(nspawn_hive, watched)
    assert "inside the agent's container" in page.inner_text("#terminal-where")

    type_line(page, f"{MARKER} & echo uid=$(id -u) pwd=$(pwd) pid1=$(cat /proc/1/comm)")
    page.wait_for_selector(f"{SCREEN}:has-text('uid=0 pwd=/state pid1=')")
    base = base_of(nspawn_hive, "worker")
    assert nspawn_hive.wait_for(lambda: host_uid_of(MARKER), what="the marker") == base
    type_line(page, "ls /home /root 2>&1 | head -2; test -e /etc/shadow || echo no-shadow")
    page.wait_for_selector(f"{SCREEN}:has-text('no-shadow')")
    assert watched.problems == []
