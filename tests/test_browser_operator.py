"""Every operator action from the browser, in headless Chromium (Debian's) against one real
controller for the module: spawn, approve, stop and start, send, resume auto-submit, deny an
invalid proposal, submit a draft, answer a question by typing, and the dead-controller banner.
The tests run in file order on one hive; the last one stops its controller.

Set UPDATE_SCREENSHOT=1 to rewrite docs/screenshot-overview.png and docs/screenshot-draft.png.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import time
from collections.abc import Iterator

import aiohttp
import pytest
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.chromium import Watched, chromium_context
from tests.conftest import ServedHive, make_root, point_home_at, serving
from tests.repo_factory import commit_step
from tests.test_browser import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
SCREENSHOT = ROOT / "docs" / "screenshot-overview.png"
DRAFT_SCREENSHOT = ROOT / "docs" / "screenshot-draft.png"
GREY = "el => getComputedStyle(el).filter"


@pytest.fixture(scope="module")
def hive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHive]:
    """One served hive for the module, with a home of its own (as `isolated_home` gives)."""
    home = tmp_path_factory.mktemp("operator-home")
    with pytest.MonkeyPatch.context() as patch:
        point_home_at(patch, home)
        with serving(make_root(tmp_path_factory.mktemp("operator") / "hive")) as served:
            yield served


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One Chromium profile for the module."""
    with chromium_context(tmp_path_factory.mktemp("profile")) as context:
        yield context


@pytest.fixture
def watched(hive: ServedHive, chromium: BrowserContext) -> Iterator[Watched]:
    """A logged-in page; at the end no console error and no request off the controller."""
    seen = Watched(chromium)
    base = seen.log_in(hive)
    yield seen
    seen.page.close()
    assert seen.problems == []
    assert seen.requests and all(url.startswith(base) for url in seen.requests)


def base_of(hive: ServedHive) -> str:
    return hive.layout.dashboard_url.read_text().strip()


def confirmed(watched: Watched, page: Page, selector: str) -> str:
    """Click `selector`, which asks first; return what the confirm said (it is accepted)."""
    before = len(watched.dialogs)
    page.click(selector)
    deadline = time.monotonic() + 10
    while len(watched.dialogs) == before:
        assert time.monotonic() < deadline, f"no confirm after clicking {selector}"
        page.wait_for_timeout(20)
    return watched.dialogs[-1].removeprefix("confirm: ")


def test_spawn_from_the_overview_then_approve_it(hive: ServedHive, watched: Watched) -> None:
    page = watched.page
    page.fill("#spawn-name", "worker")
    said = confirmed(watched, page, "#spawn-button")
    assert said.startswith("Spawn worker: a draft from the template is made")
    assert "nothing runs until you approve it" in said
    page.wait_for_url(re.compile(r"/approvals/\d+$"))
    pending = hive.pending_for("worker")
    assert pending is not None and pending["kind"] == "spawn" and pending["source"] == "web"
    assert confirmed(watched, page, "#approve-button").startswith("Approve and deploy")
    page.wait_for_selector("#outcome:has-text('Deployed')", timeout=20_000)
    assert hive.json("agents")[0]["status"] == "running"


def test_stop_and_start_from_the_agent_page(hive: ServedHive, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{base_of(hive)}agents/worker")
    said = confirmed(watched, page, "#stop-button")
    assert said == (
        "Stop worker: its container is stopped and stays down until you start it "
        "(messages keep queueing)."
    )
    page.wait_for_selector("#agent-status:has-text('stopped')")
    assert hive.json("agents")[0]["status"] == "stopped"
    assert confirmed(watched, page, "#start-button").startswith("Start worker: its deployed")
    page.wait_for_selector("#agent-status:has-text('running')")
    assert hive.json("agents")[0]["status"] == "running"


def test_send_a_message_with_enter_and_it_lands_in_the_inbox(
    hive: ServedHive, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{base_of(hive)}agents/worker")
    page.fill("#send-body", "index the docs")
    before = len(watched.dialogs)
    page.press("#send-body", "Enter")
    try:
        page.wait_for_selector("#sent-note")
    except PlaywrightTimeout:
        said = f"{page.url} ({watched.dialogs[before:]}): {page.inner_text('body')[:600]}"
        raise AssertionError(f"no sent note at {said}") from None
    assert watched.dialogs[before:] == [
        "confirm: Send to worker as operator: “index the docs”? It lands in worker's inbox at once."
    ]
    inbox = hive.json("recv", "worker")["messages"]
    assert [(m["from"], m["body"]) for m in inbox] == [("operator", "index the docs")]
    assert "index the docs" in page.inner_text("#inbox-messages")


def test_resume_auto_submit_where_a_rollback_paused_it(hive: ServedHive, watched: Watched) -> None:
    commit_step(hive.proposed("worker"), "worker", "02-add-tool")
    pending = hive.wait_for(lambda: hive.pending_for("worker"), what="the commit pinned")
    assert hive.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0
    assert hive.cli("rollback", "worker").returncode == 0
    page = watched.page
    page.goto(f"{base_of(hive)}agents/worker")
    assert "paused since a rollback" in page.inner_text("#auto-submit")
    said = confirmed(watched, page, "#resume-button")
    assert said.startswith("Resume auto-submit for worker: the watcher submits proposed/ main")
    page.wait_for_selector("#auto-submit:text-is('on')")
    assert hive.json("agents")[0]["auto_submit"] is True


def test_deny_an_invalid_proposal_with_what_to_fix(hive: ServedHive, watched: Watched) -> None:
    commit_step(hive.proposed("worker"), "worker", "03-invalid-spec")
    pending = hive.wait_for(lambda: hive.pending_for("worker"), what="the invalid commit")
    assert pending["valid"] is False
    page = watched.page
    page.goto(f"{base_of(hive)}approvals/{pending['id']}")
    assert page.locator("#approve-button").count() == 0
    page.fill("#deny-reason", "fix the typo in agent.toml")
    said = confirmed(watched, page, "#deny-button")
    reason = "“fix the typo in agent.toml”"
    assert said == f"Deny #{pending['id']} for worker: {reason} reaches the manager's inbox."
    page.wait_for_selector("#outcome:has-text('fix the typo in agent.toml')")
    assert hive.json("history", "worker")[0]["status"] == "denied"


def test_a_drafts_page_says_what_it_is_and_submits_it(hive: ServedHive, watched: Watched) -> None:
    assert hive.cli("draft", "scout").returncode == 0
    page = watched.page
    page.goto(base_of(hive))
    page.wait_for_selector("#submit-scout")
    page.click("#drafts a[href='/agents/scout']")
    page.wait_for_url(f"{base_of(hive)}agents/scout")
    text = page.inner_text("#draft")
    assert "A draft is an agent that exists only as a repo" in text
    assert "Nothing runs and nothing is queued" in text and "is not checked yet" in text
    for gone in ("#telemetry", "#terminal", "#model", "#auto-submit", "#stop-button"):
        assert page.locator(gone).count() == 0, gone
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(DRAFT_SCREENSHOT), full_page=True)
    assert confirmed(watched, page, "#submit-button").startswith("Submit scout: its head")
    page.wait_for_url(re.compile(r"/approvals/\d+$"))
    pending = hive.pending_for("scout")
    assert pending is not None and pending["source"] == "web" and pending["valid"]


def ask(hive: ServedHive, question: str, options: list[str]) -> int:
    """ask_operator on the manager's own socket, as hive-mcp would (off playwright's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asking(hive, question, options)).result(timeout=30)


async def asking(hive: ServedHive, question: str, options: list[str]) -> int:
    connector = aiohttp.UnixConnector(path=str(hive.layout.agent("manager").socket))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            "http://hive/v1/manager/ask_operator", json={"question": question, "options": options}
        ) as reply,
    ):
        assert reply.status == 201, await reply.text()
        return int((await reply.json())["id"])


def test_enter_sends_the_typed_answer_and_the_answer_stays_listed(
    hive: ServedHive, watched: Watched
) -> None:
    hive.deploy("manager")
    question = ask(hive, "Ship the refactor today?", ["go", "wait"])
    page = watched.page
    page.goto(base_of(hive))
    field = f"#question-{question} input[name=answer]"
    page.fill(field, "no, wait until Monday")
    before = len(watched.dialogs)
    page.press(field, "Enter")
    page.wait_for_selector(f"#answered-{question}")
    assert watched.dialogs[before:] == [
        "confirm: Send the answer “no, wait until Monday” to manager? It lands in its inbox."
    ]
    shown = page.inner_text(f"#answered-{question}")
    assert "Answered “no, wait until Monday” by operator (web)" in shown
    assert "Ship the refactor today?" in shown
    assert page.locator(f"#question-{question}").count() == 0
    answered = hive.json("questions", "--all")[0]
    assert (answered["id"], answered["answer"]) == (question, "no, wait until Monday")
    answers = [m for m in hive.json("recv", "manager")["messages"] if m["kind"] == "answer"]
    assert [a["body"] for a in answers] == ["no, wait until Monday"]

    # An option pressed sends that option, and its confirm says so.
    assert hive.cli("draft", "scribe").returncode == 0  # for the screenshot: a draft listed
    second = ask(hive, "Publish the docs too?", ["go", "wait"])
    page.wait_for_selector(f"#question-{second}")
    page.wait_for_selector("#submit-scribe")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    said = confirmed(watched, page, f"#question-{second} button.option[value=go]")
    assert said == "Send the answer “go” to manager? It lands in its inbox."
    page.wait_for_selector(f"#answered-{second}")


def greyed(page: Page, expected: str) -> None:
    """Wait until the first agent's status has that filter (a live refresh may replace it)."""
    deadline = time.monotonic() + 5
    while (found := page.locator("#agents .status").first.evaluate(GREY)) != expected:
        assert time.monotonic() < deadline, f"status filter {found!r}, not {expected!r}"
        page.wait_for_timeout(50)


def banner_within(page: Page, seconds: float) -> float:
    """Seconds until the unreachable banner shows; fails past `seconds`."""
    started = time.monotonic()
    page.wait_for_selector("#offline-banner:not([hidden])", timeout=seconds * 1000)
    return time.monotonic() - started


def test_a_dead_controller_looks_dead_within_five_seconds(
    hive: ServedHive, watched: Watched
) -> None:
    page = watched.page
    page.goto(base_of(hive))
    page.wait_for_selector("#live-dot.on")
    greyed(page, "none")
    assert hive.process is not None

    # Hung: the stream stays open but its heartbeat stops.
    hive.process.send_signal(signal.SIGSTOP)
    try:
        banner_within(page, 5)
        text = page.inner_text("#offline-banner")
        assert re.match(r"Controller unreachable since \d\d:\d\d:\d\d: ", text), text
        greyed(page, "grayscale(1)")
    finally:
        hive.process.send_signal(signal.SIGCONT)
    page.wait_for_selector("#offline-banner", state="hidden", timeout=10_000)  # back
    greyed(page, "none")

    # Dead: the stream drops and nothing answers again.
    hive.stop()
    banner_within(page, 5)
    greyed(page, "grayscale(1)")
    assert page.locator("#live-dot.on").count() == 0
    page.wait_for_timeout(2500)  # reconnects keep failing: it stays
    assert page.locator("#offline-banner:not([hidden])").count() == 1
    # A button would only fail now: it does nothing, not even ask.
    dialogs, url = len(watched.dialogs), page.url
    page.fill("#spawn-name", "late")
    page.click("#spawn-button")
    page.wait_for_timeout(300)
    assert (len(watched.dialogs), page.url) == (dialogs, url)
    refused = [p for p in watched.problems if "ERR_CONNECTION_REFUSED" in p]
    assert refused  # the page kept trying; nothing else went wrong
    watched.problems[:] = [p for p in watched.problems if p not in refused]


def test_overview_and_draft_screenshots_are_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "![The overview: questions, agents, drafts](docs/screenshot-overview.png)" in readme
    assert "![A draft's page](docs/screenshot-draft.png)" in readme
    for shot in (SCREENSHOT, DRAFT_SCREENSHOT):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
