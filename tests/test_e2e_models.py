"""Model overrides end to end: git notes through a real `hivectl serve`, its harness and git."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServedHive
from tests.repo_factory import commit_step, git

pytestmark = pytest.mark.e2e
NOTES_REF = "refs/notes/hive/model"


def model(served: ServedHive, *args: str) -> dict[str, Any]:
    result = served.cli("model", *args, "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def applied_note(served: ServedHive, agent: str, sha: str) -> str:
    applied = served.layout.agent(agent).applied
    return git(applied, "notes", f"--ref={NOTES_REF}", "show", sha, check=False)


def approve_next(served: ServedHive, agent: str, head: str | None = None) -> dict[str, Any]:
    pending = served.wait_for(
        lambda: (p := served.pending_for(agent)) and (head is None or p["head"] == head) and p,
        what=f"{agent}'s proposal",
    )
    approved = served.cli("approve", str(pending["id"]), "--sha", pending["head"], "--json")
    assert approved.returncode == 0, approved.stderr
    result: dict[str, Any] = json.loads(approved.stdout)
    assert result["status"] == "deployed", result
    return result


def test_an_override_is_a_note_on_the_deployed_commit_and_survives_a_deploy(
    served: ServedHive,
) -> None:
    first = served.deploy("worker")["head"]
    assert model(served, "worker")["model"] == "sonnet"  # the hive default
    assert model(served, "worker")["model_source"] == "default"

    status = model(served, "worker", "opus", "--reason", "hard refactor")
    assert (status["model"], status["model_source"], status["note_on"]) == ("opus", "note", first)
    assert status["last_switched"]["by"].endswith("(hivectl)")
    assert status["last_switched"]["reason"] == "hard refactor"
    note = applied_note(served, "worker", first)
    assert 'model = "opus"' in note and 'reason = "hard refactor"' in note
    agent = served.json("agents")[0]
    assert (agent["model"], agent["model_source"], agent["model_state"]) == (
        "opus",
        "note",
        "queued",
    )
    # No rebuild: the same process still runs.
    assert served.json("agents")[0]["runtime"]["restarts"] == 0

    # A later deploy keeps it: its first-parent history reaches the note.
    second = commit_step(served.proposed("worker"), "worker", "02-add-tool")
    approve_next(served, "worker", second)
    status = model(served, "worker")
    assert (status["model"], status["note_on"], status["deployed"]) == ("opus", first, second)

    plain = served.cli("model", "worker")
    assert plain.returncode == 0
    assert "worker: opus (override note on " in plain.stdout
    assert "hard refactor" in plain.stdout


def test_clear_falls_back_and_a_second_clear_is_refused(served: ServedHive) -> None:
    served.deploy("worker")
    model(served, "worker", "haiku")
    status = model(served, "worker", "--clear", "--reason", "back to normal")
    assert (status["model"], status["model_source"]) == ("sonnet", "default")
    again = served.cli("model", "worker", "--clear")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: worker has no model override to clear; it runs sonnet from default"
    )
    history = model(served, "worker", "--history")["history"]
    assert [h["message"].split(" on ")[0] for h in history] == ["model default", "model haiku"]


def test_bad_input_is_one_line_and_changes_nothing(served: ServedHive) -> None:
    served.deploy("worker")
    unknown = served.cli("model", "worker", "gpt-9")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "error: unknown model 'gpt-9': hive.toml `models` allows haiku, sonnet, opus"
    )
    for args, says in [
        (("worker", "opus", "--clear"), "not both"),
        (("worker", "--reason", "why"), "--reason goes with MODEL"),
        (("Bad_Name", "opus"), "Bad_Name"),
        (("nobody", "opus"), "no agent nobody"),
    ]:
        result = served.cli("model", *args)
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert served.cli("draft", "scout").returncode == 0
    draft = served.cli("model", "scout", "opus")
    assert draft.returncode == 2 and "no deployed commit yet" in draft.stderr
    applied = served.layout.agent("worker").applied
    assert git(applied, "show-ref", NOTES_REF, check=False) == ""  # no note was written


def test_rollback_restores_the_override_that_went_with_the_commit(served: ServedHive) -> None:
    first = served.deploy("worker")["head"]
    model(served, "worker", "opus")
    second = commit_step(served.proposed("worker"), "worker", "02-add-tool")
    approve_next(served, "worker", second)
    model(served, "worker", "haiku", "--reason", "cheaper for now")
    assert model(served, "worker")["model"] == "haiku"

    rolled = served.cli("rollback", "worker", "--to", first)
    assert rolled.returncode == 0, rolled.stderr
    status = model(served, "worker")
    assert status["deployed"] not in (first, second)
    assert (status["model"], status["note_on"]) == ("opus", status["deployed"])
    assert status["last_switched"]["by"] == "hive (rollback)"

    # Back to the second commit's tree: its haiku comes back with it.
    rolled = served.cli("rollback", "worker", "--to", second)
    assert rolled.returncode == 0, rolled.stderr
    assert model(served, "worker")["model"] == "haiku"


def test_a_rollback_to_a_commit_without_override_clears_a_later_one(served: ServedHive) -> None:
    first = served.deploy("worker")["head"]
    second = commit_step(served.proposed("worker"), "worker", "02-add-tool")
    approve_next(served, "worker", second)
    model(served, "worker", "opus")
    assert served.cli("rollback", "worker", "--to", first).returncode == 0
    status = model(served, "worker")
    assert (status["model"], status["model_source"]) == ("sonnet", "default")


def test_the_managers_note_travels_through_approval(served: ServedHive) -> None:
    first = served.deploy("worker")["head"]
    repo = served.proposed("worker")
    # The manager commits and notes the commit in its repo; the note alone may come later.
    second = commit_step(repo, "worker", "02-add-tool")
    approve_next(served, "worker", second)
    body = 'model = "haiku"\nset_by = "manager"\nreason = "routine work"\n'
    git(repo, "notes", "--ref=hive/model", "add", "-m", body, "HEAD")

    pending = served.wait_for(lambda: served.pending_for("worker"), what="the note submitted")
    assert pending["head"] == second  # the running commit, with a new note
    assert pending["model_note"] == body
    assert pending["model_change"] == {
        "from": "sonnet",
        "to": "haiku",
        "source": "note",
        "note": True,
    }
    shown = served.cli("show", str(pending["id"]))
    assert "model: sonnet → haiku (note)" in shown.stdout
    assert '    reason = "routine work"' in shown.stdout  # the pinned note itself

    # A later rewrite of the note in proposed/ cannot change what was pinned.
    git(repo, "notes", "--ref=hive/model", "add", "-f", "-m", 'model = "opus"\n', "HEAD")
    newer = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["id"] != pending["id"] and p,
        what="the rewritten note submitted anew",
    )
    assert newer["model_note"] == 'model = "opus"\n'
    approved = served.cli("approve", str(pending["id"]), "--sha", second)
    assert approved.returncode == 2 and "superseded" in approved.stderr
    approve_next(served, "worker", second)
    status = model(served, "worker")
    assert (status["model"], status["note_on"]) == ("opus", second)
    assert 'model = "opus"' in applied_note(served, "worker", second)
    # Whatever a note claims, the switch is signed by the manager and the approval.
    assert status["last_switched"]["by"] == f"manager (approval #{newer['id']})"
    assert first != second

    # A rollback right after a note-only deploy goes back to the commit before, not to itself.
    rolled = served.cli("rollback", "worker")
    assert rolled.returncode == 0, rolled.stderr
    after = model(served, "worker")
    assert after["model"] == "sonnet" and after["deployed"] not in (first, second)


def test_a_note_that_claims_to_be_the_operator_is_signed_by_the_manager(
    served: ServedHive,
) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    body = 'model = "opus"\nset_by = "operator"\n'
    git(repo, "notes", "--ref=hive/model", "add", "-m", body, "HEAD")
    pending = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["model_note"] and p,
        what="the noted commit",
    )
    approve_next(served, "worker", head)
    status = model(served, "worker")
    assert status["last_switched"]["by"] == f"manager (approval #{pending['id']})"
    assert "operator" not in applied_note(served, "worker", head)


def test_a_damaged_note_makes_the_proposal_invalid_instead_of_blocking_it(
    served: ServedHive,
) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    first = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert first["head"] == head and first["valid"] is True
    # The note comes after the commit was pinned: it still reaches review, as an error.
    git(repo, "notes", "--ref=hive/model", "add", "-m", "x" * 5000, "HEAD")
    pending = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["id"] != first["id"] and p,
        what="the damaged note submitted",
    )
    assert pending["head"] == head and pending["valid"] is False
    assert pending["errors"][0]["file"] == NOTES_REF
    assert "over 4096 bytes" in pending["errors"][0]["message"]
    assert served.cli("agents").returncode == 0  # the controller is fine


def test_a_note_with_an_unknown_model_cannot_be_approved(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    git(repo, "notes", "--ref=hive/model", "add", "-m", 'model = "gpt-9"\n', "HEAD")
    pending = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["model_note"] and p,
        what="the noted commit",
    )
    assert pending["valid"] is False
    assert pending["errors"][0]["file"] == NOTES_REF
    assert pending["errors"][0]["key"] == "model"
    refused = served.cli("approve", str(pending["id"]), "--sha", head)
    assert refused.returncode == 2
    assert "refs/notes/hive/model:1 model: unknown model 'gpt-9'" in refused.stderr


def test_concurrent_overrides_lose_no_note(served: ServedHive) -> None:
    served.deploy("worker")
    models = ["haiku", "sonnet", "opus"] * 4

    def override(i: int) -> int:
        return served.cli("model", "worker", models[i], "--reason", f"r{i}").returncode

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert list(pool.map(override, range(len(models)))) == [0] * len(models)
    history = model(served, "worker", "--history")["history"]
    assert sorted(h["message"].rsplit(": ", 1)[1] for h in history) == sorted(
        f"r{i}" for i in range(len(models))
    )
    applied = served.layout.agent("worker").applied
    assert git(applied, "rev-list", "--count", NOTES_REF) == str(len(models))


def last_turn_model(root: Path, agent: str) -> str | None:
    with sqlite3.connect(root / "hive.db") as db:
        row = db.execute("SELECT last_turn_model FROM agents WHERE name = ?", (agent,)).fetchone()
        return row[0] if row else None


def test_the_next_turn_runs_with_the_override_without_a_restart(
    harness_hive: ServedHive,
) -> None:
    served = harness_hive
    served.deploy("manager")
    served.deploy("worker")
    state = served.layout.agent("worker").state

    def turns() -> list[str]:
        notes = state / "notes.md"
        return notes.read_text().splitlines() if notes.exists() else []

    assert served.cli("send", "worker", "one").returncode == 0
    served.wait_for(lambda: len(turns()) == 1, timeout=20, what="the first turn")
    served.wait_for(lambda: last_turn_model(served.root, "worker"), what="TurnEnd's model")
    assert "with model sonnet" in turns()[0]
    assert model(served, "worker")["model_state"] == "active"

    status = model(served, "worker", "opus")
    assert (status["model_state"], status["last_turn_model"]) == ("queued", "sonnet")
    assert served.cli("send", "worker", "two").returncode == 0
    served.wait_for(lambda: len(turns()) == 2, timeout=20, what="the second turn")
    assert "with model opus" in turns()[1]  # the agent CLI was given --model opus
    served.wait_for(
        lambda: last_turn_model(served.root, "worker") == "opus", what="the turn's model"
    )
    assert model(served, "worker")["model_state"] == "active"
    assert served.json("agents")[1]["runtime"]["restarts"] == 0
