"""The operator's whole review in headless Chromium (Debian's), against a real controller."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServedHive
from tests.repo_factory import commit_step

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

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
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot-approval.png"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile; never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs it as root")
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def test_review_a_commit_live_and_approve_it(served: ServedHive, browser: Any) -> None:
    served.deploy("worker")
    login = served.cli("token").stdout.strip()
    assert login.startswith("http://127.0.0.1:") and "#token=" in login
    base = served.layout.dashboard_url.read_text().strip()

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(login)
    page.wait_for_url(base)
    assert "#token" not in page.url
    page.wait_for_selector("#live-dot.on")  # the event stream is open

    head = commit_step(
        served.proposed("worker"), "worker", "02-add-tool", "Give the worker a search tool"
    )
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    link = page.wait_for_selector(f'#pending a[href="/approvals/{pending["id"]}"]', timeout=5000)
    assert link is not None  # it appeared without a reload

    link.click()
    page.wait_for_url(f"{base}approvals/{pending['id']}")
    page.click("#view-split")
    page.wait_for_selector("table.split")
    assert page.locator("details.file").count() >= 2
    assert "tools/search.sh" in page.content()
    if os.environ.get("UPDATE_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.click("#approve-button")
    page.wait_for_selector("#outcome:has-text('Deployed')", timeout=15000)
    assert len(dialogs) == 1 and head[:12] in dialogs[0]
    agent = served.json("agents")[0]
    assert agent["deployed"] == head and agent["status"] == "running"
    assert problems == []


def test_deny_needs_a_reason_and_shows_it(served: ServedHive, browser: Any) -> None:
    served.deploy("worker")
    commit_step(served.proposed("worker"), "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    page = browser.new_page()
    page.goto(served.cli("token").stdout.strip())
    page.wait_for_url(served.layout.dashboard_url.read_text().strip())
    page.goto(f"{served.layout.dashboard_url.read_text().strip()}approvals/{pending['id']}")
    page.on("dialog", lambda d: d.accept())
    page.click("#deny-button")  # an empty reason: the browser refuses to submit
    assert served.pending_for("worker") is not None
    page.fill("#deny-reason", "no new tools this week")
    page.click("#deny-button")
    page.wait_for_selector("#outcome:has-text('no new tools this week')")
    assert served.json("history", "worker")[0]["status"] == "denied"


def test_screenshot_is_in_the_readme() -> None:
    readme = (SCREENSHOT.parent.parent / "README.md").read_text()
    assert "docs/screenshot-approval.png" in readme
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 10_000
    assert shutil.which("chromium") or not os.environ.get("CI")
