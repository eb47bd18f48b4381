"""The terminal on the agent page in headless Chromium (Debian's), against a real controller.

Set UPDATE_SCREENSHOT=1 to rewrite docs/screenshot-terminal.png.
"""

from __future__ import annotations

import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.chromium import Watched
from tests.conftest import ServedHive, make_root, serving
from tests.test_browser import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
SCREENSHOT = ROOT / "docs" / "screenshot-terminal.png"
SCREEN = "#terminal-screen .xterm-rows"
PROMPT = re.compile(r"[$#]")  # a shell's prompt, root's or not


def open_terminal(served: ServedHive, watched: Watched) -> tuple[Page, str]:
    """Log in, open the worker's page and its terminal; wait for a prompt."""
    page = watched.page
    base = watched.log_in(served)
    page.goto(f"{base}agents/worker")
    page.click("#terminal-open")
    try:
        page.wait_for_selector("#terminal[data-state='open']")
        page.locator(SCREEN).filter(has_text=PROMPT).wait_for()  # never eval: the CSP forbids it
    except Exception as exc:
        screen, status = page.inner_text(SCREEN), page.inner_text("#terminal-status")
        log = served.log_path.read_text()
        raise AssertionError(f"no prompt: {screen!r} {status!r}\n{log}") from exc
    return page, base


def type_line(page: Page, text: str) -> None:
    page.locator("#terminal-screen").click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_type_in_the_shell_and_switch_the_model(
    served: ServedHive, browser: BrowserContext
) -> None:
    served.deploy("worker")
    watched = Watched(browser)
    page, _ = open_terminal(served, watched)
    assert "Not isolated" in page.inner_text("#terminal-where")

    type_line(page, "echo $((6*7))")
    page.wait_for_selector(f"{SCREEN}:has-text('42')")

    type_line(page, "/help")
    page.wait_for_selector(f"{SCREEN}:has-text('/model NAME [reason]')")
    type_line(page, "/model")
    page.wait_for_selector(f"{SCREEN}:has-text('model: sonnet (')")
    type_line(page, "/model haiku cheaper for a while")
    page.wait_for_selector(f"{SCREEN}:has-text('model: sonnet → haiku (queued: the next turn')")
    model = served.json("model", "worker")
    assert model["model"] == "haiku" and model["last_switched"]["reason"] == "cheaper for a while"
    assert watched.problems == []  # no CSP violation, no page error
    type_line(page, "/model gpt-9")
    page.wait_for_selector(f"{SCREEN}:has-text(\"model: unknown model 'gpt-9'\")")  # its refusal
    assert served.json("model", "worker")["model"] == "haiku"
    # /model never reached the shell: no "not found" from it.
    assert "/model: not found" not in page.inner_text(SCREEN)
    assert "No such file" not in page.inner_text(SCREEN)
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.locator("#terminal").screenshot(path=str(SCREENSHOT))
    assert [p for p in watched.problems if "status of 400" not in p] == []  # the refusal's

    # A paste cannot end the bracketed paste early and type the rest: its ESC is dropped, so
    # bash takes it all as pasted text (without that, "b" would be typed after the paste).
    page.evaluate(PASTE, "echo a\x1b[201~b")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{SCREEN}:has-text('a[201~b')")


PASTE = """(text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  document.querySelector("#terminal-screen textarea").dispatchEvent(
    new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
}"""


class _Page(http.server.BaseHTTPRequestHandler):
    """Another origin on loopback: one page, whatever is asked."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


SOCKET_STATE = """async (url) => await new Promise((done) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { done("open"); ws.close(); };
  ws.onerror = () => done("refused");
})"""
TICKET = """async () => {
  const r = await fetch("/api/agents/worker/terminal", {method: "POST", body: "{}",
    headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}});
  return (await r.json()).ticket;
}"""


def test_a_reused_ticket_and_a_cross_origin_socket_are_refused(
    served: ServedHive, browser: BrowserContext, other_origin: str
) -> None:
    served.deploy("worker")
    watched = Watched(browser)
    page = watched.page
    base = watched.log_in(served)
    page.goto(f"{base}agents/worker")
    ws_base = base.replace("http://", "ws://") + "api/agents/worker/terminal/ws?ticket="

    ticket = page.evaluate(TICKET)
    assert page.evaluate(SOCKET_STATE, ws_base + ticket) == "open"
    assert page.evaluate(SOCKET_STATE, ws_base + ticket) == "refused"  # used once

    # A page of another origin (same site: its requests carry the session cookie) is refused
    # by the Origin check, before the ticket is spent: the dashboard can still use it.
    ticket = page.evaluate(TICKET)
    stranger = browser.new_page()
    stranger.goto(other_origin)
    assert stranger.evaluate(SOCKET_STATE, ws_base + ticket) == "refused"
    assert page.evaluate(SOCKET_STATE, ws_base + ticket) == "open"


def test_the_idle_timeout_ends_the_session(tmp_path: Path, browser: BrowserContext) -> None:
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    config.write_text(config.read_text().replace("idle_timeout = 900.0", 'idle_timeout = "2s"'))
    with serving(root) as served:
        served.deploy("worker")
        watched = Watched(browser)
        page, _ = open_terminal(served, watched)
        page.wait_for_selector(f"{SCREEN}:has-text('[session ended: idle for 2 s]')")
        page.wait_for_selector("#terminal[data-state='ended']")
        assert watched.problems == []
