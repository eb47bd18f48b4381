"""The overview at size in headless Chromium (Debian's), against a real controller: counts
per status, the filter by status and name, the pager; drafts made through `hivectl draft`."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.chromium import Watched
from tests.conftest import ServedHive

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def first_row(page: Page, table: str) -> str:
    """The first row's text once it is shown, its whitespace as one space (a row read while
    the live list redraws gives its source's spacing, not the rendered one)."""
    row = page.locator(f"{table} tbody tr").first
    row.wait_for(state="visible")
    return " ".join(row.inner_text().split())


def test_filter_the_overview_by_status_and_name(
    served: ServedHive,
    browser: BrowserContext,
) -> None:
    served.deploy("worker")
    for name in ("scout-a", "scout-b", "miner"):
        served.cli("draft", name)
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    counts = page.inner_text("#status-counts")
    assert "all 4" in counts and "running 1" in counts and "draft 3" in counts

    page.fill("#agent-filter input[name=name]", "scout")
    page.click("#agent-filter button[type=submit]")
    page.wait_for_url(f"{base}?status=&name=scout")
    assert first_row(page, "#drafts").startswith("scout-a")
    assert page.locator("#drafts tbody tr").count() == 2
    assert page.locator("#agents").count() == 0  # worker is not a scout
    assert "No agent matches this filter." in page.inner_text("main")

    page.select_option("#agent-filter select[name=status]", "running")
    page.fill("#agent-filter input[name=name]", "")
    page.click("#agent-filter button[type=submit]")
    page.wait_for_url(f"{base}?status=running&name=")
    assert first_row(page, "#agents").startswith("worker")
    assert page.locator("#drafts").count() == 0
    assert "1–1 of 1 agents" in page.inner_text("#agents-pager")

    page.click("#status-counts a:has-text('draft 3')")
    page.wait_for_url(f"{base}?status=draft&name=")
    assert page.locator("#drafts tbody tr").count() == 3
    assert watched.problems == []
