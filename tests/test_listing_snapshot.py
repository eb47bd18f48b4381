"""What listings read from git, saved at stop and kept at the next start only where the ref
files have not moved (real hive roots and repos, a real sqlite file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_hive import listing, listing_snapshot, repos
from gitops_hive.config import load_config
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout
from tests.conftest import make_root
from tests.repo_factory import commit_step, git

Opener = Callable[[], Awaitable[Hive]]


@pytest.fixture
async def opener(tmp_path: Path) -> AsyncIterator[Opener]:
    layout = HiveLayout(make_root(tmp_path / "hive"))
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    opened: list[Hive] = []

    async def open_hive() -> Hive:
        hive = await Hive.open(layout, load_config(layout.config))
        opened.append(hive)
        return hive

    yield open_hive
    for hive in opened:
        await hive.close()


def spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the agents whose repos a listing reads."""
    read: list[str] = []
    deployed_sha, read_proposed = listing.deployed_sha, listing.read_proposed

    async def deployed(ctx: Any, name: str) -> str | None:
        read.append(name)
        return await deployed_sha(ctx, name)

    async def proposed(ctx: Any, name: str, *args: Any) -> Any:
        read.append(name)
        return await read_proposed(ctx, name, *args)

    monkeypatch.setattr(listing, "deployed_sha", deployed)
    monkeypatch.setattr(listing, "read_proposed", proposed)
    return read


async def _three_drafts(open_hive: Opener) -> list[dict[str, Any]]:
    hive = await open_hive()
    for name in ("ada", "bob", "cy"):
        await hive.draft(name)
    listed = await hive.agents()
    await hive.close()
    return listed


async def test_a_restart_lists_unmoved_agents_without_reading_their_repos(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await _three_drafts(opener)
    hive = await opener()
    read = spy_reads(monkeypatch)
    assert await hive.agents() == before
    assert read == []


async def test_what_moved_while_stopped_is_read_again(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {a["name"]: a for a in await _three_drafts(opener)}
    hive = await opener()
    ctx = hive.ctx
    await hive.close()
    head = commit_step(ctx.layout.agent("bob").proposed, "worker", "02-add-tool")
    # applied.git moved by someone else while no controller ran (a restore from a backup).
    cy = ctx.layout.agent("cy")
    git(cy.applied, "fetch", "-q", str(cy.proposed), "main:refs/heads/main")
    proposal = before["cy"]["proposed"]
    hive = await opener()
    read = spy_reads(monkeypatch)
    listed = {a["name"]: a for a in await hive.agents()}
    assert sorted(set(read)) == ["bob", "cy"]
    assert listed["ada"] == before["ada"]
    assert listed["bob"]["proposed"] == head != before["bob"]["proposed"]
    assert listed["cy"]["deployed"] == proposal


@pytest.mark.parametrize("damage", ["garbage", "another default model"])
async def test_a_damaged_or_outdated_file_is_ignored(
    opener: Opener, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    before = await _three_drafts(opener)
    hive = await opener()
    layout = hive.ctx.layout
    await hive.close()
    if damage == "garbage":
        layout.listing_snapshot.write_text("{not json")
    else:
        text = layout.config.read_text()
        model = load_config(layout.config)["default_model"]
        other = next(m for m in load_config(layout.config)["models"] if m != model)
        layout.config.write_text(
            text.replace(f'default_model = "{model}"', f'default_model = "{other}"')
        )
    hive = await opener()
    read = spy_reads(monkeypatch)
    listed = await hive.agents()
    assert sorted(set(read)) == ["ada", "bob", "cy"]
    assert [a["proposed"] for a in listed] == [a["proposed"] for a in before]
    assert layout.listing_snapshot.stat().st_mode & 0o777 == 0o600


async def test_a_failing_save_never_keeps_the_hive_from_closing(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    hive = await opener()
    await hive.draft("ada")
    await hive.agents()

    def broken(*args: Any) -> int:
        raise KeyError("a bug in the save")

    monkeypatch.setattr(listing_snapshot, "save", broken)
    await hive.close()
    assert hive.ctx.runtime.status("ada").state.value != "running"
    with pytest.raises(ValueError):  # the db is closed: close() went on past the save
        await hive.ctx.db.fetchall("SELECT 1")
