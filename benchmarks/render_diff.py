"""Server-side render time and page weight of a 5,000-changed-line approval page.

A real hive (`hivectl serve`, the scripted agent) whose deployed commit holds a copy of this
project's own sources (Python, JavaScript, CSS, HTML, Markdown). Each proposal, committed with
the git CLI and pinned by the watcher, is a realistic change of exactly 5,000 lines: an
identifier renamed across the modules (scattered hunks with context), one module deleted and
new modules added, in several files and languages.

/approvals/ID is fetched over loopback with the operator's bearer token:
- first view, 2 s after the pin: the controller highlights a proposal when it is pinned and
  fills its file tables (unified), so this is the page's head around them; one fresh proposal
  per sample, rows and tables being kept per (base, head) pinned shas, which never change; its
  baselines: the same view at the moment of the pin, which waits for the highlighting as every
  first view did when it was done at view time, and the side-by-side view of the same proposal
  asked for just after, whose tables the request fills (what every view cost before they were
  kept, on a page 1.2x heavier);
- later views of the same proposal, unified and side by side (rows kept);
- the baseline in the same run: the same diff as a plain patch from
  /api/approvals/ID/diff?format=patch (what `hivectl show` prints), so the ratio is what
  highlighting and the page cost.
Prints figures; asserts nothing about time.
Run: `.venv/bin/python benchmarks/render_diff.py [--proposals N] [--rounds N]`.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import statistics
import time
from pathlib import Path

import aiohttp
from _harness import BenchHive, bench_hive, git, sizes, summary

import gitops_hive

# Seconds between the pin and the operator's first view: the page is highlighted at the pin.
OPERATOR_DELAY = 2.0
SCRIPTED = {'"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]'}
CHANGED_LINES = 5000
PACKAGE = Path(gitops_hive.__file__).resolve().parent
DOCS = PACKAGE.parent / "docs"
# Deployed, then edited by the proposal: an identifier renamed throughout.
EDITED = [
    "hive.py",
    "deploy/build.py",
    "approvals/submit.py",
    "listing.py",
    "web/control_api.py",
    "web/pages.py",
    "web/static/app.js",
]
DELETED = "diffs.py"
# Added by the proposal, these first, then the package's other sources, until the diff has
# CHANGED_LINES changed lines.
ADDED_FIRST = [
    "repos/__init__.py",
    "config.py",
    "messaging/broker.py",
    "web/render.py",
    "web/security.py",
    "web/static/app.css",
    "web/templates/_approval_body.html",
    "controller.py",
    "cli/approvals.py",
    "store/queries.py",
    "runtime/process.py",
    "spec.py",
]
# A module that moved is left out rather than failing the run: the figures need realistic
# sources, not these exact files.
EDITED = [path for path in EDITED if (PACKAGE / path).is_file()]
ADDED_FIRST = [path for path in ADDED_FIRST if (PACKAGE / path).is_file()]
RENAME = (re.compile(r"\bapproval\b"), "proposal")
SUFFIXES = {".py", ".js", ".css", ".html", ".md", ".toml"}


def added_sources() -> list[str]:
    rest = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*")
        if path.suffix in SUFFIXES and "__pycache__" not in path.parts
    )
    taken = {*EDITED, DELETED, *ADDED_FIRST}
    return ADDED_FIRST + [path for path in rest if path not in taken]


def source(path: str) -> str:
    return (PACKAGE / path).read_text()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def write(repo: Path, path: str, text: str) -> None:
    target = repo / "src" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def deployed_tree(repo: Path) -> None:
    for path in [*EDITED, DELETED]:
        write(repo, path, source(path))
    write(repo, "README.md", (DOCS / "architecture.md").read_text())


def proposal_tree(repo: Path, revision: int) -> int:
    """Edit the deployed tree into a CHANGED_LINES-line change; return the lines it changes."""
    pattern, replacement = RENAME
    for path in EDITED:
        write(repo, path, pattern.sub(replacement, source(path)))
    (repo / "src" / DELETED).unlink()
    write(repo, "README.md", (DOCS / "architecture.md").read_text() + f"\nRevision {revision}.\n")
    git(repo, "add", "-A")
    changed = sum(
        int(added) + int(deleted)
        for added, deleted, _ in (
            line.split("\t") for line in git(repo, "diff", "--cached", "--numstat").splitlines()
        )
    )
    for path in added_sources():
        if changed >= CHANGED_LINES:
            break
        lines = source(path).splitlines(keepends=True)[: CHANGED_LINES - changed]
        write(repo, f"added/{path}", "".join(lines))
        changed += len(lines)
    return changed


def reset_tree(repo: Path) -> None:
    git(repo, "rm", "-rq", "--ignore-unmatch", "src")
    deployed_tree(repo)


def wait_pinned(hive: BenchHive, head: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = hive.pending("worker")
        if pending and pending["head"] == head:
            return int(pending["id"])
        time.sleep(0.01)
    raise RuntimeError(f"{head} was not pinned; see {hive.root / 'serve.log'}")


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000, body


async def fetch_many(
    session: aiohttp.ClientSession, url: str, rounds: int
) -> tuple[list[float], bytes]:
    samples, body = [], b""
    for _ in range(rounds):
        ms, body = await fetch(session, url)
        samples.append(ms)
    return samples, body


def propose(hive: BenchHive, repo: Path, revision: int) -> int:
    """Commit proposal `revision` on top of the deployed tree; return its approval id."""
    reset_tree(repo)
    changed = proposal_tree(repo, revision)
    if changed != CHANGED_LINES:
        raise RuntimeError(f"the proposal changes {changed} lines, not {CHANGED_LINES}")
    head = commit(repo, f"Rename approval to proposal, split diffs (revision {revision})")
    return wait_pinned(hive, head)


async def measure(hive: BenchHive, repo: Path, proposals: int, rounds: int) -> None:
    base = hive.layout.dashboard_url.read_text().strip()
    token = hive.layout.token.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        # Untimed: templates compiled, every lexer loaded.
        await fetch(session, f"{base}approvals/{propose(hive, repo, 0)}")
        first: list[float] = []  # an operator who opens the page some seconds after the pin
        at_pin: list[float] = []  # the baseline: opened at the pin, the highlighting under way
        split_first: list[float] = []  # the baseline: a view whose tables the request fills
        for revision in range(1, 2 * proposals + 1):
            approval = propose(hive, repo, revision)
            if revision % 2:
                ms, _ = await fetch(session, f"{base}approvals/{approval}")
                at_pin.append(ms)
            else:
                await asyncio.sleep(OPERATOR_DELAY)
                ms, _ = await fetch(session, f"{base}approvals/{approval}")
                first.append(ms)
                ms, _ = await fetch(session, f"{base}approvals/{approval}?view=split")
                split_first.append(ms)
        page_url = f"{base}approvals/{approval}"
        unified, page = await fetch_many(session, page_url, rounds)
        split, split_page = await fetch_many(session, f"{page_url}?view=split", rounds)
        patch_url = f"{base}api/approvals/{approval}/diff?format=patch"
        patch_ms, patch = await fetch_many(session, patch_url, rounds)
        async with session.get(f"{base}api/approvals/{approval}/diff?stat=1") as response:
            files = (await response.json())["files"]

    counted = sum(f["additions"] + f["deletions"] for f in files)
    shown = [f for f in files if f["summary_only"] is None]
    kinds = sorted({Path(f["path"]).suffix for f in files})
    print(
        f"approval page: {counted} changed lines in {len(files)} files "
        f"({len(shown)} shown in full; {' '.join(kinds)})"
    )
    print(summary(f"first view, {OPERATOR_DELAY:g} s after the pin", first))
    print(summary("baseline: first view at the pin", at_pin))
    print(summary("baseline: side by side, first asked", split_first))
    print(summary("later view, unified", unified))
    print(summary("later view, side by side", split))
    print(summary("baseline: plain patch", patch_ms))
    baseline = statistics.median(patch_ms)
    print(
        f"p50 vs plain patch: first view {statistics.median(first) / baseline:.1f}x, "
        f"later views {statistics.median(unified) / baseline:.1f}x (unified), "
        f"{statistics.median(split) / baseline:.1f}x (side by side)"
    )
    for label, body in (("unified", page), ("side by side", split_page), ("patch", patch)):
        packed = len(gzip.compress(body))
        print(
            f"weight, {label:<13} {len(body):>9,} bytes ({len(body) / 1024:6.0f} KiB), "
            f"gzip {packed:>8,} bytes ({packed / 1024:4.0f} KiB)"
        )


def main() -> None:
    # proposals: first-view samples; rounds: later-view and patch samples
    args = sizes(__doc__, {"proposals": 1, "rounds": 2}, proposals=10, rounds=30)
    with bench_hive(SCRIPTED) as hive:
        hive.deploy("worker")
        repo = hive.layout.agent("worker").proposed
        deployed_tree(repo)
        head = commit(repo, "Ship the sources")
        approval = wait_pinned(hive, head)
        hive.client.approve(approval, head)
        asyncio.run(measure(hive, repo, args.proposals, args.rounds))


if __name__ == "__main__":
    main()
