"""What the ref watcher's tests share: on_change recorded and awaitable, an agent's
proposed/ in a hive root, a commit as the manager makes it, and (tests/conftest.py's
`watched`) a watcher over two real repos."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from gitops_hive.layout import HiveLayout
from gitops_hive.watcher import RefWatcher
from tests.repo_factory import git, make_repo

QUIET = 0.3  # seconds with no call: what a write that must wake nothing is given


class Calls:
    """on_change as the watcher calls it, awaitable by agent."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._changed = asyncio.Event()

    async def __call__(self, name: str) -> None:
        self.names.append(name)
        self._changed.set()

    async def next(self) -> str:
        """The next agent called for (or the one already called and not yet taken)."""
        async with asyncio.timeout(10):
            while not self.names:
                self._changed.clear()
                await self._changed.wait()
        return self.names.pop(0)

    async def none_within(self, seconds: float = QUIET) -> list[str]:
        """What was called for within `seconds` (should be nothing)."""
        await asyncio.sleep(seconds)
        called, self.names = self.names, []
        return called


def proposed(root: Path, name: str) -> Path:
    return HiveLayout(root).agent(name).proposed


def commit(repo: Path, text: str = "A new line.\n") -> None:
    with (repo / "prompt.md").open("a") as handle:
        handle.write(text)
    git(repo, "commit", "-qam", "change")


async def watching_two(root: Path) -> AsyncIterator[tuple[RefWatcher, Calls, Path]]:
    """A started watcher over agents scout and worker (one commit each) under `root`."""
    for name in ("scout", "worker"):
        make_repo(proposed(root, name), "worker", upto=1)
    calls = Calls()
    watcher = RefWatcher(HiveLayout(root), calls)
    await watcher.start()
    try:
        yield watcher, calls, root
    finally:
        watcher.stop()
