"""The operator's whole review in headless Chromium (Debian's), against a real controller.

Chromium is /usr/bin/chromium driven by playwright's sync API with `executable_path`; no
browser is ever downloaded. It resolves no name but 127.0.0.1, and every request the pages
make is checked to go to the controller on loopback.
Set UPDATE_SCREENSHOT=1 to rewrite docs/screenshot-approval.png.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.chromium import Watched
from tests.conftest import ServedHive, make_root, serving
from tests.repo_factory import GIT_ENV, commit_step, git

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshot-approval.png"


def test_review_a_commit_live_and_approve_it(served: ServedHive, browser: BrowserContext) -> None:
    served.deploy("worker")
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    assert page.locator("#pending").count() == 0  # nothing waits yet
    page.wait_for_selector("#live-dot.on")  # the event stream is open
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    head = commit_step(
        served.proposed("worker"), "worker", "02-add-tool", "Give the worker a search tool"
    )
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert pending["head"] == head
    link = f'#pending a[href="/approvals/{pending["id"]}"]'
    page.wait_for_selector(link)
    assert page.evaluate("window.loadedOnce === true"), "the page reloaded"

    # A locator, not an element handle: a later live update may re-render the section.
    page.locator(link).click()
    page.wait_for_url(f"{base}approvals/{pending['id']}")
    assert page.locator("table.split").count() == 0
    page.click("#view-split")
    page.wait_for_url(f"{base}approvals/{pending['id']}?base=deployed&view=split")
    page.wait_for_selector("table.split")
    assert page.locator("table.unified").count() == 0
    paths = page.locator("details.file summary .path").all_inner_texts()
    assert paths == ["agent.toml", "prompt.md", "tools/search.sh"]
    assert page.inner_text("#head-sha") == head
    page.wait_for_selector("#live-dot.on")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.click("#approve-button")
    page.wait_for_selector("#outcome:has-text('Deployed')", timeout=15_000)
    assert watched.dialogs == [f"confirm: Approve and deploy {head[:12]} to worker?"]
    assert page.inner_text("#approval-status") == "deployed"
    agent = next(a for a in served.json("agents") if a["name"] == "worker")
    assert agent["deployed"] == head and agent["status"] == "running"
    assert watched.problems == []

    # The CSP is strict and a violation would have been seen: an injected inline script is
    # refused and reported.
    with page.expect_console_message(lambda m: "CSP violation: script-src" in m.text):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = 1'; document.body.append(s); }"
        )
    assert page.evaluate("window.injected === undefined")

    # Stopping the controller ends the open event stream at once: the page sees it go.
    served.stop()
    page.wait_for_selector("#live-dot:not(.on)")
    assert watched.requests and all(url.startswith(base) for url in watched.requests)


def test_deny_needs_a_reason_and_shows_it(served: ServedHive, browser: BrowserContext) -> None:
    served.deploy("worker")
    commit_step(served.proposed("worker"), "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    page.goto(f"{base}approvals/{pending['id']}")

    page.click("#deny-button")  # an empty reason: the form is invalid, so nothing is asked
    assert page.eval_on_selector("#deny-reason", "e => e.validity.valueMissing")
    assert watched.dialogs == []
    page.fill("#deny-reason", "no new tools this week")
    page.click("#deny-button")
    page.wait_for_selector("#outcome:has-text('no new tools this week')")
    reason = "“no new tools this week”"
    assert watched.dialogs == [
        f"confirm: Deny #{pending['id']} for worker: {reason} reaches the manager's inbox."
    ]
    assert served.json("history", "worker")[0]["status"] == "denied"
    assert served.pending_for("worker") is None
    assert watched.problems == []
    assert all(url.startswith(base) for url in watched.requests)


def test_screenshot_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "![The approval page](docs/screenshot-approval.png)" in readme
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 10_000


def test_switch_the_model_without_losing_what_is_typed(
    served: ServedHive, browser: BrowserContext
) -> None:
    served.deploy("worker")
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    page.goto(f"{base}agents/worker")
    page.wait_for_selector("#live-dot.on")
    assert page.inner_text("#model-name") == "sonnet"

    page.select_option("#model-form select[name=model]", "opus")
    page.fill("#model-form input[name=reason]", "a hard refactor")
    # A change arrives while the operator types: the page waits instead of wiping the form.
    assert served.cli("model", "worker", "haiku").returncode == 0
    page.wait_for_timeout(600)  # the refresh would have landed by now
    assert page.input_value("#model-form input[name=reason]") == "a hard refactor"
    page.click("#model-form button[type=submit]:not([name])")
    page.wait_for_selector("#model-name:has-text('opus')")
    assert page.inner_text("#model-state") == "queued"
    assert "by operator (web): a hard refactor" in page.inner_text("#model-switched")
    status = served.json("model", "worker")
    assert (status["model"], status["last_switched"]["reason"]) == ("opus", "a hard refactor")
    assert watched.problems == []
    assert all(url.startswith(base) for url in watched.requests)


AGENT_SCREENSHOT = ROOT / "docs" / "screenshot-agent.png"
# Pixels of a chart's canvas that are drawn (not transparent): a chart with data has lines.
DRAWN_PIXELS = """
(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn += 1;
  return drawn;
}
"""
SUMMARY = "document.querySelector('#telemetry-summary').textContent"
TURNS_SHOWN = "window.hiveTelemetry.last.summary.turns"
DRAWS = "Number(document.querySelector('#chart-turns').dataset.draws)"


def wait_js(page: Page, expression: str, timeout: float = 10) -> None:
    """Poll a JS expression until true (wait_for_function would eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def turns_of(served: ServedHive, agent: str) -> int:
    return int(served.json("stats", agent, "--since", "10m")["summary"]["turns"])


def test_the_agent_page_charts_real_turns_live(
    harness_hive: ServedHive, browser: BrowserContext
) -> None:
    served = harness_hive
    for name in ("manager", "worker"):
        assert served.cli("spawn", name).returncode == 0
        pending = served.pending_for(name)
        assert pending is not None
        assert served.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0
    assert served.cli("send", "worker", "index the docs").returncode == 0
    served.wait_for(lambda: turns_of(served, "worker") >= 1, timeout=30, what="a worker turn")

    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    # The overview: a sparkline and the last turn, not stuck.
    last_turn = page.wait_for_selector("#last-turn-worker")
    assert last_turn is not None and last_turn.inner_text().endswith(" s ago")
    assert "stuck" not in (last_turn.get_attribute("class") or "")
    points = (page.get_attribute("#agents svg.sparkline polyline", "points") or "").split()
    assert len(points) == 31  # 2-minute buckets over the hour, aligned, so 30 and a part
    heights = [float(point.split(",")[1]) for point in points]
    # The turn peaks at the end: in the last bucket, or the one before when the page loaded
    # just after a bucket boundary.
    assert min(heights) == 1.0 and heights.index(1.0) >= len(heights) - 2
    assert points[0] == "0.0,19.0"

    page.goto(f"{base}agents/worker")
    page.wait_for_selector("#live-dot.on")
    page.wait_for_selector("#chart-turns[data-points]")
    page.evaluate("window.loadedOnce = true")
    charts = dict(
        page.eval_on_selector_all(
            "figure.chart:not([hidden])", "els => els.map(e => [e.id, e.dataset.series])"
        )
    )
    assert charts["chart-duration"] == "2" and charts["chart-exits"] == "3"
    assert charts["chart-tools"] == "2"  # whoami and send
    assert len(charts) == 11
    assert page.locator("#chart-turns canvas").count() == 1
    assert page.evaluate(DRAWN_PIXELS, "#chart-turns canvas") > 100
    assert page.evaluate(DRAWN_PIXELS, "#chart-duration canvas") > 100
    assert page.evaluate(TURNS_SHOWN) == turns_of(served, "worker")
    assert "turn(s)" in page.inner_text("#telemetry-summary")

    # A new turn reaches the chart through the event stream, without a reload.
    turns, draws = page.evaluate(f"[{TURNS_SHOWN}, {DRAWS}]")
    assert served.cli("send", "worker", "and the tests").returncode == 0
    wait_js(page, f"{TURNS_SHOWN} > {turns} && {DRAWS} > {draws}", timeout=30)
    assert page.evaluate("window.loadedOnce === true"), "the page reloaded"
    # A live refresh of the page body keeps the charts.
    assert served.cli("stop", "worker").returncode == 0
    page.wait_for_selector("#agent-status:has-text('stopped')")
    assert page.locator("#chart-turns canvas").count() == 1

    page.click("#telemetry-windows button[data-since='24h']")
    wait_js(page, f"{SUMMARY}.includes('600 s buckets')")
    assert watched.problems == []
    assert all(url.startswith(base) for url in watched.requests)


def test_agent_screenshot_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "![The agent page with its charts](docs/screenshot-agent.png)" in readme
    assert AGENT_SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_review_shows_commits_changes_risks_and_denied_work(
    served: ServedHive, browser: BrowserContext
) -> None:
    served.deploy("worker")
    work = served.proposed("worker")
    denied_head = commit_step(work, "worker", "02-add-tool", "Give the worker a search tool")
    denied = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    refused = served.cli("deny", str(denied["id"]), "--reason", "no new tools this week")
    assert refused.returncode == 0, refused.stderr
    (work / "CHANGELOG.md").write_text("- a search tool\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "Keep a changelog\n\nSo the operator sees what changed.")
    head = git(work, "rev-parse", "HEAD")
    pending = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["head"] == head and p, what="pinned"
    )
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    page.goto(f"{base}approvals/{pending['id']}")

    commits = page.locator("#commits li.commit")
    assert commits.count() == 2
    newest, oldest = commits.nth(0).inner_text(), commits.nth(1).inner_text()
    assert head[:12] in newest and "Keep a changelog" in newest and "So the operator" in newest
    assert denied_head[:12] in oldest and "Give the worker a search tool" in oldest
    assert GIT_ENV["GIT_AUTHOR_NAME"] in newest and GIT_ENV["GIT_AUTHOR_NAME"] in oldest
    changes = page.inner_text("#changes")
    assert "packages + ripgrep" in changes and "tools allowed + Bash(rg *)" in changes
    risks = page.inner_text("#risks")
    assert "bash_wider Bash(rg *) lets the agent run commands" in risks
    assert "packages_added installs git, ripgrep in the container" in risks
    carried = page.inner_text(f"#carries-denied-{denied['id']}")
    assert "Carries work you denied" in carried and "no new tools this week" in carried
    ignored = page.inner_text("#warning-packages_ignored")  # the served hive runs process
    assert "[container] packages (git, ripgrep) cannot be installed" in ignored
    assert watched.problems == []
    assert all(url.startswith(base) for url in watched.requests)


@pytest.fixture
def slow_start(tmp_path: Path) -> Iterator[ServedHive]:
    """A served hive whose starts take 3 s to count, so a build is seen while it runs."""
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    config.write_text(config.read_text().replace("start_grace = 0.3", "start_grace = 3.0"))
    with serving(root) as hive:
        yield hive


def test_a_build_shows_its_progress_while_it_runs(
    slow_start: ServedHive, browser: BrowserContext
) -> None:
    spawned = slow_start.cli("spawn", "worker")
    assert spawned.returncode == 0, spawned.stderr
    pending = slow_start.wait_for(lambda: slow_start.pending_for("worker"), what="pinned")
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(slow_start)
    page.goto(f"{base}approvals/{pending['id']}")
    page.wait_for_selector("#live-dot.on")
    # Approved elsewhere (hivectl, not waiting): this page follows the build live.
    approved = slow_start.cli("approve", str(pending["id"]), "--sha", pending["head"], "--no-wait")
    assert approved.returncode == 0, approved.stderr
    page.wait_for_selector("#approval-status:has-text('building')")
    progress = page.wait_for_selector("#build-progress:has-text('starting')")
    assert progress is not None
    assert f"starting {pending['head'][:12]}: it counts as started" in progress.inner_text()
    page.wait_for_selector("#outcome:has-text('Deployed')", timeout=15_000)
    assert page.locator("#build-progress").count() == 0
    assert watched.problems == []
