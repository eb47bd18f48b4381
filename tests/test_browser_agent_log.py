"""The agent page in headless Chromium (Debian's): the log tail read as turns, charts that
open on the agent's data with lines and values, and a failing agent CLI shown as such."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.chromium import Watched
from tests.conftest import ServedHive
from tests.test_browser import AGENT_SCREENSHOT, turns_of, wait_js
from tests.test_browser_terminal import PROMPT, SCREEN, type_line
from tests.test_failing_turns import missing_cli_hive
from tests.test_harness import deploy

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["missing_cli_hive"]  # a fixture, used by name

# Distinct pixel columns of a canvas drawn in these colours: a line covers many, dots a few.
COLUMNS_IN = """
([selector, colours]) => {
  const canvas = document.querySelector(selector);
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const columns = new Set();
  for (let i = 0; i < data.length; i += 4) {
    const close = colours.some((rgb) => Math.abs(data[i] - rgb[0])
      + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]) < 60);
    if (close && data[i + 3] > 200) columns.add((i / 4) % width);
  }
  return [columns.size, width];
}
"""
SERIES_COLOURS = [[9, 105, 218], [207, 34, 46]]  # the first two in static/charts.js
LEGEND_VALUE = "#chart-{chart} .u-legend .u-series:nth-child({n}) .u-value"


def add_old_turn(root: Path, agent: str, ago: float) -> float:
    """A turn's rows `ago` seconds back, as the controller writes them."""
    at = time.time() - ago
    rows = {"turns": 1.0, "duration_s": 2.0, "exit_code": 0.0, "exit:ok": 1.0}
    with sqlite3.connect(root / "hive.db", timeout=30) as db:
        db.executemany(
            "INSERT INTO stats (agent, ts, key, value) VALUES (?, ?, ?, ?)",
            [(agent, at, key, value) for key, value in rows.items()],
        )
    return at


def screenshot(page: Page) -> None:
    """docs/screenshot-agent.png: the page with a shell open, the charts and the log."""
    page.click("#log-raw summary")  # closed again: the readable lines
    page.click("#terminal-open")
    page.locator(f"{SCREEN}").filter(has_text=PROMPT).wait_for()
    type_line(page, "ls")
    page.locator(SCREEN).filter(has_text="notes.md").wait_for()
    page.screenshot(path=str(AGENT_SCREENSHOT), full_page=True)


def open_agent(page: Page, base: str, agent: str) -> None:
    page.goto(f"{base}agents/{agent}")
    page.wait_for_selector("#chart-duration[data-points]")


def test_the_log_reads_as_a_turn_and_the_charts_open_on_the_data(
    harness_hive: ServedHive, browser: BrowserContext
) -> None:
    served = harness_hive
    deploy(served, "manager")
    deploy(served, "worker")
    first = add_old_turn(served.root, "worker", 1500)
    assert served.cli("send", "worker", "index the docs").returncode == 0
    served.wait_for(lambda: turns_of(served, "worker") >= 1, timeout=30, what="a worker turn")
    log = served.layout.agent("worker").log
    served.wait_for(lambda: '"type": "result"' in log.read_text(), what="the turn's result")

    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    open_agent(page, base, "worker")

    # The log tail: what the model said and the tools it called, as lines.
    tail = page.locator("#log-tail")
    said = tail.locator(".log-text").filter(has_text="Telling manager I got #")
    assert said.count() == 1
    call = tail.locator(".log-tool").filter(has_text="→ mcp__hive__send(")
    assert call.count() == 1 and "got #" in call.inner_text()
    assert tail.locator(".log-result").filter(has_text="✓ done").count() >= 1
    assert '"type"' not in tail.inner_text()  # no raw JSON in the readable view
    raw = page.locator("#log-raw-lines")
    assert not raw.is_visible()
    page.click("#log-raw summary")
    assert raw.is_visible() and '"type": "assistant"' in raw.inner_text()

    # The charts open on the agent's data: from just before its first turn, not an hour.
    x_min, x_max = page.evaluate(
        "() => { const x = window.hiveTelemetry.plots.duration.scales.x; return [x.min, x.max]; }"
    )
    assert first - 0.1 * (x_max - first) <= x_min <= first, (x_min, first)
    assert x_max >= time.time() - 60
    assert page.locator("#telemetry-windows button.active").inner_text() == "fit"
    # Two turns 25 minutes apart with nothing between: one line, not two dots.
    columns, width = page.evaluate(COLUMNS_IN, ["#chart-duration canvas", SERIES_COLOURS])
    assert columns > width * 0.5, (columns, width)
    # The legend shows the newest values without pointing at the chart.
    p50 = page.inner_text(LEGEND_VALUE.format(chart="duration", n=2))
    assert float(p50) > 0, p50
    turns = page.inner_text(LEGEND_VALUE.format(chart="turns", n=2))
    assert turns.replace(".", "", 1).isdigit(), turns

    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        screenshot(page)

    # Another window still draws; the fitted one comes back on "fit".
    page.click("#telemetry-windows button[data-since='1h']")
    wait_js(page, "window.hiveTelemetry.last.until - window.hiveTelemetry.last.since > 3500")
    page.click("#telemetry-windows button[data-since='data']")
    wait_js(page, "window.hiveTelemetry.last.until - window.hiveTelemetry.last.since < 1800")
    assert watched.problems == []
    assert all(url.startswith(base) for url in watched.requests)


@pytest.mark.timeout(120)
def test_a_missing_agent_cli_shows_failing_on_the_pages(
    missing_cli_hive: tuple[ServedHive, Path], browser: BrowserContext
) -> None:
    served, cli = missing_cli_hive
    deploy(served, "manager")
    deploy(served, "worker")
    assert served.cli("send", "worker", "build the index").returncode == 0
    served.wait_for(
        lambda: any(a["status"] == "failing" for a in served.json("agents")),
        timeout=30,
        what="the worker failing",
    )
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    row = page.locator("#agents tr").filter(has_text="worker")
    assert "failing" in row.locator(".status").inner_text()
    assert f"agent CLI '{cli}' not found" in row.inner_text()
    page.goto(f"{base}agents/worker")
    assert page.inner_text("#agent-status") == "failing"
    assert page.inner_text("#agent-failing") == f"failing: agent CLI '{cli}' not found"
    assert watched.problems == []
