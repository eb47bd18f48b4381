"""Notes compaction: a real secondary session (the scripted agent), the old notes kept, the swap
atomic, a failed session changing nothing; and a failed turn compacted and run once more."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from gitops_hive.agent.compaction import ARCHIVE_DIR, NOTES_FILE, compact, compact_prompt
from tests.conftest import ServedHive
from tests.repo_factory import git

SCRIPTED = [sys.executable, "-m", "gitops_hive.agent.scripted", "--compact"]
NOTES = "".join(f"- turn {i}: did something worth remembering\n" for i in range(40))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    (tmp_path / NOTES_FILE).write_text(NOTES)
    return tmp_path


async def test_a_compaction_keeps_the_old_notes_and_swaps_in_the_new(state: Path) -> None:
    result = await compact(state, SCRIPTED, 200)
    assert result.compacted and result.before == len(NOTES.encode())
    new = (state / NOTES_FILE).read_text()
    assert result.after == len(new.encode()) < 200
    assert new.startswith("# notes, compacted") and "turn 39" in new
    assert result.kept is not None and result.kept.parent == state / ARCHIVE_DIR
    assert result.kept.read_text() == NOTES
    assert not list(state.glob(".notes.md.*"))  # no staging file left behind
    with (state / NOTES_FILE).open("a") as more:
        more.write(NOTES)
    again = await compact(state, SCRIPTED, 200)  # a second one keeps both old versions
    assert again.kept is not None and again.kept != result.kept
    assert len(list((state / ARCHIVE_DIR).iterdir())) == 2


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        ([sys.executable, "-c", "import sys; sys.exit(4)"], "status 4"),
        ([sys.executable, "-c", "pass"], "printed nothing"),
        ([sys.executable, "-c", "import sys; print(sys.stdin.read())"], "no smaller"),
        (["/nonexistent/compactor"], "cannot run"),
    ],
)
async def test_a_failed_session_leaves_the_notes_untouched(
    state: Path, argv: list[str], why: str
) -> None:
    result = await compact(state, argv, 200)
    assert not result.compacted and why in result.why
    assert (state / NOTES_FILE).read_text() == NOTES
    assert not (state / ARCHIVE_DIR).exists()


def test_the_prompt_carries_the_notes_and_the_limit() -> None:
    prompt = compact_prompt(NOTES, 500)
    assert "at most 500 bytes" in prompt and prompt.endswith(NOTES)
    assert f"grown to {len(NOTES.encode())} bytes" in prompt


def exit_classes(root: Path, agent: str) -> dict[str, float]:
    with sqlite3.connect(root / "hive.db") as db:
        rows = db.execute(
            "SELECT key, sum(value) FROM stats WHERE agent = ? AND key LIKE 'exit:%' GROUP BY key",
            (agent,),
        )
        return {key: value for key, value in rows}


@pytest.mark.e2e
def test_a_turn_that_fails_on_big_notes_is_compacted_and_retried(
    harness_hive: ServedHive,
) -> None:
    served = harness_hive  # harness.notes_limit = 400 here
    served.deploy("manager")
    served.deploy("worker")
    repo = served.proposed("worker")
    toml = (repo / "agent.toml").read_text()
    toml = toml.replace("env = {}", 'env = { SCRIPTED_AGENT_FAIL_IF_NOTES_OVER = "250" }')
    (repo / "agent.toml").write_text(toml)
    git(repo, "commit", "-qam", "fail turns while the notes are big")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert served.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0
    state = served.layout.agent("worker").state
    (state / NOTES_FILE).write_text("x" * 300 + "\n- the last thing\n")  # under 400, over 250

    assert served.cli("send", "worker", "go on").returncode == 0
    served.wait_for(
        lambda: exit_classes(served.root, "worker").get("exit:retried"),
        timeout=30,
        what="a retried turn",
    )
    assert exit_classes(served.root, "worker").get("exit:failure", 0) == 0
    notes = (state / NOTES_FILE).read_text()
    assert "compacted" in notes and "- the last thing" in notes and "with model" in notes
    kept = list((state / ARCHIVE_DIR).iterdir())
    assert len(kept) == 1 and kept[0].read_text().startswith("x" * 300)


@pytest.mark.e2e
def test_notes_over_the_limit_are_compacted_before_the_turn(harness_hive: ServedHive) -> None:
    served = harness_hive
    served.deploy("manager")
    served.deploy("worker")
    state = served.layout.agent("worker").state
    (state / NOTES_FILE).write_text(NOTES)  # 1,800 bytes, over the 400 of this hive
    assert served.cli("send", "worker", "hello").returncode == 0
    served.wait_for(
        lambda: exit_classes(served.root, "worker").get("exit:ok"), timeout=30, what="the turn"
    )
    assert (state / NOTES_FILE).stat().st_size < 400
    assert (state / ARCHIVE_DIR).is_dir()
