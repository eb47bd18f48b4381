"""Shared fixtures: an isolated home, real hive roots, a real `hivectl serve` subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from aiohttp.test_utils import TestClient

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from gitops_hive.runtime import debian
from gitops_hive.runtime.images import ImageCache
from gitops_hive.watcher import RefWatcher
from gitops_hive.web.app import make_web_app
from gitops_hive.web.security import Guard, allowed_hosts_for, read_token
from tests.ref_watching import Calls, watching_two

HIVECTL = [sys.executable, "-m", "gitops_hive"]
IMAGE_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "images"
FAST_CONFIG = {
    # One image cache for every test hive (scripts/agent_image.py builds its base first).
    'image_cache = ""': f'image_cache = "{IMAGE_CACHE}"',
    "start_grace = 1.0": "start_grace = 0.3",
    "restart_backoff = 1.0": "restart_backoff = 0.2",
    # The core-loop tests supervise the scripted agent directly (it heartbeats into state/);
    # tests of the turn harness put it back with `harness_root`.
    '"gitops_hive.agent.harness"]': '"gitops_hive.agent.scripted"]',
}


# Tests that touch what the host has one of (containers and their uid ranges, nft tables and
# bridges, mounts, a booted systemd, the open-files limit under a flood) are marked `machine`;
# those whose timing a busy machine upsets (a browser, a terminal's PTY) `screen`; both
# `host`. `make test` runs the rest on two xdist workers, then the two kinds side by side,
# each one test at a time.
MACHINE_FILES = {
    "test_agents_view.py",
    "test_container_network.py",
    "test_e2e_flood.py",
    "test_e2e_health.py",
    "test_image_recipe.py",
    "test_images.py",
}
MACHINE_PREFIXES = ("test_nspawn", "test_systemd")
SCREEN_FILES = {"test_terminal.py"}
SCREEN_PREFIXES = ("test_browser",)


def host_kind(item: pytest.Item) -> str | None:
    """`machine`, `screen`, or None for a test that may run beside any other."""
    name = item.path.name
    if name in SCREEN_FILES or name.startswith(SCREEN_PREFIXES):
        return "screen"
    marked = item.get_closest_marker("nspawn") or item.get_closest_marker("dbus")
    if name in MACHINE_FILES or name.startswith(MACHINE_PREFIXES) or marked:
        return "machine"
    return None


def pytest_configure(config: pytest.Config) -> None:
    """A short base for tmp paths (xdist adds popen-gwN/ to each): an agent's socket path must
    stay within the 107 bytes a unix socket allows, and the default base is long."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="hv", dir="/tmp")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = host_kind(item)
        if kind is not None:
            item.add_marker(pytest.mark.host)
            item.add_marker(getattr(pytest.mark, kind))


def point_home_at(patch: pytest.MonkeyPatch, home: Path) -> None:
    """HOME, XDG state and config under `home`; no git config but the repo's; no HIVE_ROOT."""
    patch.setenv("HOME", str(home))
    patch.setenv("XDG_STATE_HOME", str(home / "state"))
    patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    patch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    patch.delenv("HIVE_ROOT", raising=False)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """No test touches the real home, XDG state or git config."""
    home = tmp_path_factory.mktemp("home")
    point_home_at(monkeypatch, home)
    for level in (
        pygit2.enums.ConfigLevel.GLOBAL,
        pygit2.enums.ConfigLevel.XDG,
        pygit2.enums.ConfigLevel.SYSTEM,
    ):
        pygit2.settings.search_path[level] = str(home)
    return home


def run_hivectl(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess against `root`."""
    return subprocess.run(
        [*HIVECTL, "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_root(path: Path) -> Path:
    """`hivectl init` a root with test-speed timings."""
    result = run_hivectl(path, "init")
    assert result.returncode == 0, result.stderr
    config = HiveLayout(path).config
    text = config.read_text()
    for old, new in FAST_CONFIG.items():
        text = text.replace(old, new)
    config.write_text(text)
    return path


class ServedHive:
    """A hive root with a real `hivectl serve` subprocess."""

    def __init__(self, root: Path, open_files: tuple[int, int] | None = None) -> None:
        self.root = root
        self.layout = HiveLayout(root)
        self.process: subprocess.Popen[str] | None = None
        self.log_path = root / "serve.log"
        self.open_files = open_files  # RLIMIT_NOFILE (soft, hard) of the controller

    def start(self, timeout: float = 20) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*HIVECTL, "--root", str(self.root), "serve", "--listen", "127.0.0.1:0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=limit_open_files(self.open_files) if self.open_files else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{self.log_path.read_text()}")
            if self.cli("agents").returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"serve did not become ready:\n{self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        self.process = None

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_hivectl(self.root, *args, timeout=timeout)

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def wait_for(self, predicate: Any, timeout: float = 10, what: str = "condition") -> Any:
        """Poll `predicate()` until it returns something truthy (test-side waiting only)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}\n{self.log_path.read_text()}")

    def deploy(self, agent: str) -> dict[str, Any]:
        """Spawn `agent` and approve it; return the deployed approval."""
        spawned = self.cli("spawn", agent)
        assert spawned.returncode == 0, spawned.stderr
        pending = self.pending_for(agent)
        assert pending is not None
        approved = self.cli("approve", str(pending["id"]), "--sha", pending["head"], "--json")
        assert approved.returncode == 0, approved.stderr + approved.stdout
        result: dict[str, Any] = json.loads(approved.stdout)
        assert result["status"] == "deployed", result
        return result

    def pending_for(self, agent: str) -> dict[str, Any] | None:
        return next((a for a in self.json("pending") if a["agent"] == agent), None)

    def proposed(self, agent: str) -> Path:
        return self.layout.agent(agent).proposed


@pytest.fixture
def hive_root(tmp_path: Path) -> Path:
    return make_root(tmp_path / "hive")


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[RefWatcher, Calls, Path]]:
    """A ref watcher over two real agents' repos, its calls recorded (tests/ref_watching.py)."""
    async for found in watching_two(tmp_path / "hive"):
        yield found


@pytest.fixture
def served(hive_root: Path) -> Iterator[ServedHive]:
    with serving(hive_root) as hive:
        yield hive


@pytest.fixture
def patient_served(hive_root: Path) -> Iterator[ServedHive]:
    """`served` with a start grace long enough that a commit whose agent exits at once is seen
    to fail however loaded the machine (0.3 s is not, with python's start under load)."""
    config = HiveLayout(hive_root).config
    config.write_text(config.read_text().replace("start_grace = 0.3", "start_grace = 3.0"))
    with serving(hive_root) as hive:
        yield hive


def limit_open_files(limits: tuple[int, int]) -> Callable[[], None]:
    """A preexec_fn: the child runs with RLIMIT_NOFILE set to (soft, hard)."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits)


@contextlib.contextmanager
def serving(root: Path, open_files: tuple[int, int] | None = None) -> Iterator[ServedHive]:
    """`hivectl serve` on `root` (made with make_root, then edited) for the block."""
    hive = ServedHive(root, open_files)
    hive.start()
    try:
        yield hive
    finally:
        hive.stop()


SCRIPTED_CLI = '["{python}", "-m", "gitops_hive.agent.scripted", "--turn", "--model", "{model}"]'
SCRIPTED_COMPACT = '["{python}", "-m", "gitops_hive.agent.scripted", "--compact"]'


def with_harness(config_text: str, agent_command: str) -> str:
    """hive.toml's text with agents run by the real harness, `agent_command` as their CLI."""
    text = config_text.replace('"gitops_hive.agent.scripted"]', '"gitops_hive.agent.harness"]')
    start = text.index("agent_command = [")
    end = text.index("]", start) + 1
    return text[:start] + f"agent_command = {agent_command}" + text[end:]


@pytest.fixture
def harness_hive(tmp_path: Path) -> Iterator[ServedHive]:
    """A served hive whose agents run the real harness, the scripted agent as their CLI."""
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    text = with_harness(config.read_text(), SCRIPTED_CLI)
    start = text.index("compact_command = [")
    end = text.index("]", start) + 1
    text = text[:start] + f"compact_command = {SCRIPTED_COMPACT}" + text[end:]
    config.write_text(text.replace("notes_limit = 65536", "notes_limit = 400"))
    with serving(root) as hive:
        yield hive


def image_base_ready() -> bool:
    """Whether the tests' image cache holds the base this Python's containers need."""
    cache = ImageCache(IMAGE_CACHE, debian.host_mirror() or "", debian.host_suite() or "")
    return cache.base_path(cache.base_packages()).is_dir()


def need_nspawn() -> None:
    """Skip (or, under CI, fail) a test that boots containers where it cannot."""
    problem = None
    if os.geteuid() != 0:
        problem = "needs root"
    elif shutil.which("systemd-nspawn") is None:
        problem = "needs systemd-nspawn (apt install systemd-container)"
    elif not image_base_ready():
        problem = "needs the agent image's base: run `make test` (scripts/agent_image.py)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"nspawn tests {problem}; `make test` as root installs it")
        pytest.skip(problem)


Review = tuple[Hive, TestClient[Any, Any], dict[str, str]]


async def logged_in_dashboard(
    hive: Hive, aiohttp_client: Any
) -> tuple[TestClient[Any, Any], dict[str, str]]:
    """The real dashboard of an open `hive` on loopback, and the operator's auth header."""
    guard = Guard(read_token(HiveLayout(hive.root).token), sessions=hive.sessions)
    client = await aiohttp_client(make_web_app(hive, guard))
    guard.allowed_hosts.update(allowed_hosts_for("127.0.0.1", client.port))
    return client, {"Authorization": f"Bearer {guard.token}"}


async def started_hive(layout: HiveLayout) -> Hive:
    """The hive at `layout` opened in the running loop and started (the caller closes it)."""
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    await hive.start()
    return hive


@pytest.fixture
async def review(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Review]:
    """A process hive opened in the test's own loop, and its dashboard, logged in."""
    hive = await started_hive(HiveLayout(make_root(tmp_path / "hive")))
    try:
        client, auth = await logged_in_dashboard(hive, aiohttp_client)
        yield hive, client, auth
    finally:
        await hive.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile (tests/chromium.py); never a downloaded browser."""
    from tests.chromium import chromium_context  # playwright loads only for browser tests

    with chromium_context(tmp_path / "profile") as context:
        yield context
