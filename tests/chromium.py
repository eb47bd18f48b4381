"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright
with `executable_path` (never a downloaded browser), resolving no name but 127.0.0.1, and a
page that records its console errors, dialogs and every URL it requests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Page, sync_playwright

if TYPE_CHECKING:
    from tests.conftest import ServedHive

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# What Chromium logs when it aborts a load because the host's interfaces changed: the machine
# tests beside the browser ones add and remove containers' bridges and veths. The host's
# doing, not the page's; every other console error still fails a test.
HOST_NETWORK_CHANGED = "Failed to load resource: net::ERR_NETWORK_CHANGED"
# Reports CSP violations to the console too (an init script is not itself subject to CSP).
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
});
"""


@contextlib.contextmanager
def chromium_context(profile: Path) -> Iterator[BrowserContext]:
    """Chromium with its profile in `profile`; skipped (failed under CI) when not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs it as root")
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


class Watched:
    """A page with its console errors, page errors, dialogs and requested URLs recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        context.add_init_script(CSP_REPORTER)
        context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning") and message.text != HOST_NETWORK_CHANGED:
            self.problems.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    def log_in(self, served: ServedHive) -> str:
        """Open `hivectl token`'s URL; return the dashboard's base URL."""
        login = served.cli("token").stdout.strip()
        base = served.layout.dashboard_url.read_text().strip()
        assert login.startswith(f"{base}login#token="), login
        self.page.goto(login)
        self.page.wait_for_url(base)
        return base
