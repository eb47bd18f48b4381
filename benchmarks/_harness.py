"""What every benchmark shares: a fresh hive root, a real `hivectl serve`, the manager's git."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_hive.client import ControlClient
from gitops_hive.layout import HiveLayout

HIVECTL = [sys.executable, "-m", "gitops_hive"]
MANAGER_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench manager",
    "GIT_AUTHOR_EMAIL": "manager@hive.bench",
    "GIT_COMMITTER_NAME": "bench manager",
    "GIT_COMMITTER_EMAIL": "manager@hive.bench",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    """The git CLI, as the manager runs it."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env=MANAGER_ENV,
    )
    return result.stdout.strip()


@dataclass(frozen=True)
class Committed:
    """A commit to proposed/: its sha, when `git commit` started, when the ref file changed
    (its mtime), and the pending approval the controller made of it."""

    sha: str
    started: float
    changed: float
    pending: dict[str, Any]

    @property
    def latency_ms(self) -> float:
        """Ref change -> pinned approval (its `created` stamp)."""
        return (self.pending["created"] - self.changed) * 1000


class BenchHive:
    """A hive root with a `hivectl serve` subprocess and a client on its control socket."""

    def __init__(
        self, root: Path, edits: dict[str, str] | None = None, open_files: int | None = None
    ) -> None:
        self.root = root
        self.edits = edits or {}
        self.open_files = open_files  # the controller's RLIMIT_NOFILE, soft and hard
        self.layout = HiveLayout(root)
        self.client = ControlClient.of(self.layout)
        self.process: subprocess.Popen[bytes] | None = None

    def hivectl(self, *args: str) -> None:
        subprocess.run([*HIVECTL, "--root", str(self.root), *args], check=True, capture_output=True)

    def start(self) -> None:
        self.hivectl("init")
        text = self.layout.config.read_text()
        for old, new in self.edits.items():
            if old not in text:
                raise RuntimeError(f"hive.toml has no {old!r} to replace")
            text = text.replace(old, new)
        self.layout.config.write_text(text)
        log = (self.root / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [*HIVECTL, "--root", str(self.root), "serve", "--listen", "127.0.0.1:0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        for _ in range(400):
            with contextlib.suppress(Exception):
                self.client.health()
                return
            time.sleep(0.05)
        raise RuntimeError(f"serve did not start; see {self.root / 'serve.log'}")

    def _limit_open_files(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def log_text(self) -> str:
        """What the controller logged so far."""
        return (self.root / "serve.log").read_text(errors="replace")

    def deploy(self, name: str) -> dict[str, Any]:
        """Spawn `name` and approve it; return the deployed approval."""
        spawned = self.client.spawn(name)
        return self.client.approve(spawned["id"], spawned["head"])

    def pending(self, agent: str) -> dict[str, Any] | None:
        return next((p for p in self.client.pending() if p["agent"] == agent), None)

    def commit_until_pending(self, agent: str, label: str, timeout: float = 60) -> Committed:
        """Commit a prompt line to `agent`'s proposed/ with the git CLI and wait, on the
        controller's notice stream (no polling load on it meanwhile), until it is pending."""
        proposed = self.layout.agent(agent).proposed
        ref_file = proposed / ".git" / "refs" / "heads" / "main"
        with self.client.notices() as notices:
            with (proposed / "prompt.md").open("a") as handle:
                handle.write(f"\n{label}.\n")
            started = time.time()
            git(proposed, "commit", "-qam", label)
            changed = os.stat(ref_file).st_mtime_ns / 1e9
            sha = ref_file.read_text().strip()
            for notice in notices:  # a heartbeat at least every 2 s
                if time.time() - started > timeout:
                    raise RuntimeError(f"{sha} of {agent} not pending after {timeout:g} s")
                if notice["kind"] != "approval" or notice.get("agent") != agent:
                    continue
                pending = self.pending(agent)
                if pending is not None and pending["head"] == sha:
                    return Committed(sha, started, changed, pending)
        raise RuntimeError("the controller's notice stream ended")

    def approve_prompt_change(
        self, agent: str, label: str, timeout: float = 60
    ) -> tuple[float, float]:
        """Commit a prompt change to `agent`, wait until it is pending, approve it: the approve
        call and approve -> the new harness ready, in ms."""
        pending = self.commit_until_pending(agent, label).pending
        sha = pending["head"]
        log = self.layout.agent(agent).log
        offset = log.stat().st_size
        with ThreadPoolExecutor(1) as pool:
            started = time.perf_counter()
            harness = pool.submit(ready_at, log, sha, offset)
            result = self.client.approve(pending["id"], sha)
            call = (time.perf_counter() - started) * 1000
            assert result["status"] == "deployed", result
            ready = (harness.result(timeout=timeout) - started) * 1000
        return call, ready


def ready_at(log: Path, sha: str, since: int) -> float:
    """When the agent started from `sha` said its harness is ready (polled every 2 ms)."""
    while True:
        text = log.read_bytes()[since:].decode("utf-8", "replace")
        start = text.find(f"--- start {sha}")
        if start >= 0 and "harness ready" in text[start:]:
            return time.perf_counter()
        time.sleep(0.002)


@contextlib.contextmanager
def bench_hive(
    edits: dict[str, str] | None = None, open_files: int | None = None
) -> Iterator[BenchHive]:
    """A throwaway hive under a temp dir (hive.toml text replaced per `edits`, the controller
    under `open_files` if given), stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="hive-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)
        hive = BenchHive(Path(tmp) / "hive", edits, open_files)
        hive.start()
        try:
            yield hive
        finally:
            hive.stop()


def summary(label: str, samples_ms: list[float]) -> str:
    """One line: count, p50, p90, p99 and max of `samples_ms`."""
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return (
        f"{label:<34} n={len(ordered):<4} p50={statistics.median(ordered):8.1f} ms  "
        f"p90={pct(90):8.1f} ms  p99={pct(99):8.1f} ms  max={ordered[-1]:8.1f} ms"
    )


def sizes(doc: str, quick: dict[str, float], **full: float) -> argparse.Namespace:
    """A benchmark's command line: `--NAME` for each size in `full` (its default there), and
    `--quick`, which takes the sizes in `quick` (make bench-quick) for those not given."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in full.items():
        small = quick.get(name, default)
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            help=f"default {default}, with --quick {small}",
        )
    shown = ", ".join(f"{name}={value}" for name, value in quick.items())
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {shown}")
    args = parser.parse_args()
    for name, default in full.items():
        if getattr(args, name) is None:
            setattr(args, name, quick.get(name, default) if args.quick else default)
    return args
