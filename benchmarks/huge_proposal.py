"""The approval page of a 110,000-file proposal: its time and size, and /api/health's latency
while it renders, against the old code path measured in the same run.

A real hive (`hivectl serve`, the scripted agent). The manager commits, straight into the
object database of a drafted agent's proposed/ (pygit2, one blob for every file), a tree of
110,000 files; it is submitted and pinned. Then:
- the page as served: /approvals/ID over loopback with the operator's token (first view,
  then later views, which reuse the rendered rows), and /api/health polled every 10 ms from
  another thread while views of it render;
- the baseline, in this process on the same pinned commits: the path every page view took
  before the caps, in an aiohttp app of its own: every file diffed (the old line budget
  only), every file's rows highlighted, the whole template filled, all on the event loop,
  with the same /api/health poller against that app.
Prints figures; asserts nothing about time.
Run: `.venv/bin/python benchmarks/huge_proposal.py [--quick] [--rounds N]`
(`--quick`: 2,000 files and fewer views, a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
import pygit2
from _harness import BenchHive, bench_hive, summary
from aiohttp import web
from markupsafe import Markup
from pygit2.enums import FileMode

from gitops_hive import repos
from gitops_hive.approvals.views import BASES
from gitops_hive.web import app as web_app
from gitops_hive.web.prerender import FILES_TEMPLATE
from gitops_hive.web.render import PageDiff, file_view

SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}
SIGNATURE = pygit2.Signature("bench manager", "manager@hive.bench", 1_700_000_000, 0)
POLL_EVERY = 0.01
HEALTH_TIMEOUT = 30.0  # seconds one /api/health may take before it counts as failed


def commit_files(proposed_git: Path, folders: int, files: int) -> str:
    """folders x files files of one blob, over the draft's own tree, as proposed/ main."""
    repo = pygit2.Repository(str(proposed_git))
    blob = repo.create_blob(b"hello\nworld\n")
    folder = repo.TreeBuilder()
    for index in range(files):
        folder.insert(f"file{index:04d}.txt", blob, FileMode.BLOB)
    folder_id = folder.write()
    data = repo.TreeBuilder()
    for index in range(folders):
        data.insert(f"dir{index:03d}", folder_id, FileMode.TREE)
    parent = repo.head.peel(pygit2.Commit)
    top = repo.TreeBuilder(parent.tree)
    top.insert("data", data.write(), FileMode.TREE)
    message = f"{folders * files} files"
    oid = repo.create_commit(
        "refs/heads/main", SIGNATURE, SIGNATURE, message, top.write(), [parent.id]
    )
    return str(oid)


class HealthPoller:
    """GET /api/health every POLL_EVERY seconds from a thread of its own, timing each."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port, self.headers = host, port, headers
        self.samples: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=HEALTH_TIMEOUT)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/api/health", headers=self.headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException, RuntimeError) as exc:
                # Counted and said, not a dead thread: a new connection for the next one.
                self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=HEALTH_TIMEOUT)
            else:
                self.samples.append((time.perf_counter() - started) * 1000)
            time.sleep(POLL_EVERY)
        conn.close()

    def report(self) -> str:
        """The samples' summary, and what failed if anything did."""
        line = summary("  /api/health meanwhile", self.samples)
        if self.failures:
            line += f"\n  /api/health failed {len(self.failures)} times: {self.failures[0]}"
        return line

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {body[:200]!r}")
    return (time.perf_counter() - started) * 1000, body


async def served_page(hive: BenchHive, approval: int, rounds: int) -> None:
    base = hive.layout.dashboard_url.read_text().strip()
    token = hive.layout.token.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    address = base.split("//", 1)[1].rstrip("/")
    host, port = address.rsplit(":", 1)
    url = f"{base}approvals/{approval}"
    async with aiohttp.ClientSession(headers=headers) as session:
        with HealthPoller(host, int(port), headers) as poller:
            first, page = await fetch(session, url)
            later = []
            for index in range(rounds):
                # Two views at once, the second while the first renders.
                view = "split" if index % 2 else "unified"
                results = await asyncio.gather(
                    fetch(session, f"{url}?view={view}"),
                    fetch(session, f"{url}?fragment=1&view={view}"),
                )
                later += [ms for ms, _ in results]
    print(summary("capped page, first view", [first]))
    print(summary("capped page, later views (2 at once)", later))
    print(poller.report())
    print(f"capped page weight: {len(page):>12,} bytes")


def old_page_html(env: jinja2.Environment, context: dict[str, Any]) -> str:
    return env.get_template("approval.html").render(context)


async def baseline_page(hive: BenchHive, approval: int) -> None:
    """The old path: all files diffed, highlighted and filled into the page on the loop."""
    info = hive.client.approval(approval)
    applied = hive.layout.agent(info["agent"]).applied
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(web_app.WEB_DIR / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(when=web_app._when, short=web_app._short, ago=web_app._ago)
    weights: list[int] = []

    async def page(request: web.Request) -> web.Response:
        diff = repos.diff_commits(applied, info["base"], info["head"])  # the old budget only
        views = [file_view(f, i) for i, f in enumerate(diff.files)]
        page = PageDiff(diff, tuple(views), (), 0)
        context = {
            "csrf": "x",
            "now": time.time(),
            "a": info,
            "base": "deployed",
            "bases": BASES,
            "view": "unified",
            "diff": diff,
            "page": page,
            "base_error": None,
            "warnings": page.warnings,
            "decidable": False,
        }
        tables = env.get_template(FILES_TEMPLATE).render(page=page, view="unified")
        html = old_page_html(env, {**context, "files_html": Markup(tables)})
        weights.append(len(html.encode()))
        return web.Response(text=html, content_type="text/html")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/api/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            with HealthPoller("127.0.0.1", port, {}) as poller:
                await asyncio.sleep(0.1)
                ms, _ = await fetch(session, f"http://127.0.0.1:{port}/page")
                await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
    print(summary("baseline: old path, one view", [ms]))
    print(poller.report())
    print(f"baseline page weight: {weights[0]:>10,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files, a few views")
    parser.add_argument("--rounds", type=int, default=None, help="pairs of later views")
    args = parser.parse_args()
    folders = 2 if args.quick else 110
    rounds = args.rounds or (2 if args.quick else 10)
    with bench_hive(SCRIPTED) as hive:
        hive.client.draft("worker")
        proposed = hive.layout.agent("worker").proposed_git
        started = time.perf_counter()
        head = commit_files(proposed, folders, 1000)
        approval = hive.client.submit("worker", head)
        pinned = (time.perf_counter() - started) * 1000
        assert approval["head"] == head, approval
        print(
            f"proposal: {folders * 1000:,} files, pinned and validated in {pinned:.0f} ms "
            f"(valid: {approval['valid']})"
        )
        asyncio.run(served_page(hive, approval["id"], rounds))
        asyncio.run(baseline_page(hive, approval["id"]))


if __name__ == "__main__":
    main()
