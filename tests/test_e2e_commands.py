"""Every hivectl command and its bad inputs, through the real CLI and a real controller."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import HIVECTL, ServedHive, run_hivectl
from tests.repo_factory import commit_step, git

pytestmark = pytest.mark.e2e
SHA = re.compile(r"^[0-9a-f]{40}$")
CLIENT_COMMANDS = [
    ["agents"],
    ["pending"],
    ["draft", "scout"],
    ["spawn", "scout"],
    ["submit", "scout"],
    ["show", "1"],
    ["approve", "1", "--sha", "abcdef0"],
    ["deny", "1", "--reason", "no"],
    ["history", "scout"],
    ["rollback", "scout"],
    ["resume", "scout"],
    ["send", "scout", "hi"],
    ["recv", "scout"],
    ["questions"],
    ["answer", "1", "yes"],
    ["stop", "scout"],
    ["start", "scout"],
    ["model", "scout"],
    ["logs", "scout"],
    ["hooks", "install"],
]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "run" not in p.parts}


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", CLIENT_COMMANDS, ids=lambda a: a[0])
def test_without_a_controller_every_client_command_says_so(
    hive_root: Path, args: list[str]
) -> None:
    line = one_line_error(run_hivectl(hive_root, *args))
    assert "no controller is running" in line and "serve" in line


def test_root_comes_from_hive_root(served: ServedHive) -> None:
    env = {**os.environ, "HIVE_ROOT": str(served.root)}
    result = subprocess.run(
        [*HIVECTL, "agents", "--json"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("bad", ["../x", "A", "", "a/b", "-a", "1a", "a" * 33, "a b"])
def test_bad_names_are_refused_and_create_nothing(served: ServedHive, bad: str) -> None:
    before = files_under(served.root)
    line = one_line_error(served.cli("draft", "--", bad))
    assert "[a-z]" in line or "name" in line
    assert files_under(served.root) == before
    assert served.json("agents") == []


def test_draft_then_submit_then_approve(served: ServedHive) -> None:
    drafted = served.cli("draft", "worker", "--json")
    assert drafted.returncode == 0, drafted.stderr
    agent = served.json("agents")[0]
    assert agent["status"] == "draft" and agent["deployed"] is None
    assert SHA.match(agent["proposed"])
    assert set(agent) >= {"name", "status", "deployed", "proposed", "model", "pending"}
    assert (served.layout.agent("worker").state).is_dir()

    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    assert served.json("pending") == []  # a draft waits for an explicit submit
    submitted = served.cli("submit", "worker")
    assert submitted.returncode == 0, submitted.stderr
    pending = served.json("pending")
    assert len(pending) == 1
    entry = pending[0]
    assert set(entry) >= {
        "id",
        "agent",
        "kind",
        "head",
        "base",
        "status",
        "valid",
        "errors",
        "created",
    }
    assert (entry["kind"], entry["head"], entry["base"], entry["valid"]) == (
        "spawn",
        head,
        None,
        True,
    )

    stat = served.cli("show", str(entry["id"]), "--stat")
    assert stat.returncode == 0 and "tools/search.sh" in stat.stdout
    patch = served.cli("show", str(entry["id"]))
    assert "+++ b/agent.toml" in patch.stdout or "agent.toml" in patch.stdout

    approved = served.cli("approve", str(entry["id"]), "--sha", head[:7])
    assert approved.returncode == 0, approved.stderr
    agent = served.json("agents")[0]
    assert (agent["status"], agent["deployed"], agent["pending"]) == ("running", head, None)
    history = served.json("history", "worker")
    assert [h["status"] for h in history] == ["deployed"]
    assert set(history[0]) >= {"id", "kind", "head", "status", "decided_by", "decided_at", "reason"}
    assert history[0]["decided_by"] and history[0]["decided_at"]


def test_submit_a_ref_resolves_it_once(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    git(repo, "checkout", "-q", "-b", "idea")
    idea = commit_step(repo, "worker", "02-add-tool")
    git(repo, "checkout", "-q", "main")
    result = served.cli("submit", "worker", "idea", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["head"] == idea
    missing = one_line_error(served.cli("submit", "worker", "no-such-branch"))
    assert "no-such-branch" in missing


def test_show_against_each_base(served: ServedHive) -> None:
    first = served.deploy("worker")
    repo = served.proposed("worker")
    commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    for base in ("deployed", "approved", "previous"):
        result = served.cli("show", str(pending["id"]), "--base", base, "--stat")
        assert result.returncode == 0, result.stderr
        assert "tools/search.sh" in result.stdout
    assert pending["base"] == first["head"]
    bad = one_line_error(served.cli("show", str(pending["id"]), "--base", "yesterday"))
    assert "yesterday" in bad


def test_show_with_a_path_prints_that_one_files_diff(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    (repo / "prompt.md").write_text("A new plan.\n")
    (repo / "notes.txt").write_text("one\ntwo\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plan and notes")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    number = str(pending["id"])
    shown = served.cli("show", number, "--", "notes.txt")
    assert shown.returncode == 0, shown.stderr
    diff = shown.stdout[shown.stdout.index("diff /dev/null") :]
    assert diff.splitlines() == [
        "diff /dev/null b/notes.txt (added)",
        "--- /dev/null",
        "+++ b/notes.txt",
        "@@ -0,0 +1,2 @@",
        "+one",
        "+two",
    ]
    assert "diff a/prompt.md" not in shown.stdout  # only that file's diff (the summary may name it)
    both = served.cli("show", number, "--stat", "--", "prompt.md", "notes.txt")
    assert both.returncode == 0 and "prompt.md" in both.stdout and "notes.txt" in both.stdout
    missing = one_line_error(served.cli("show", number, "--", "no/such/file"))
    assert "no/such/file" in missing


def test_decisions_refuse_bad_input(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    number = str(pending["id"])
    wrong = one_line_error(served.cli("approve", number, "--sha", "0" * 40))
    assert head[:7] in wrong or "does not match" in wrong
    assert "7" in one_line_error(served.cli("approve", number, "--sha", head[:6]))
    assert "no approval" in one_line_error(served.cli("approve", "999", "--sha", head))
    no_reason = served.cli("deny", number)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    assert "reason" in one_line_error(served.cli("deny", number, "--reason", "   "))
    assert served.pending_for("worker") is not None  # nothing was decided

    denied = served.cli("deny", number, "--reason", "no new tools this week")
    assert denied.returncode == 0, denied.stderr
    entry = served.json("history", "worker")[0]
    assert (entry["status"], entry["reason"]) == ("denied", "no new tools this week")
    assert entry["decided_by"]
    already = one_line_error(served.cli("approve", number, "--sha", head))
    assert "denied" in already


def test_an_invalid_proposal_lists_its_errors_and_cannot_be_approved(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "03-invalid-spec")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    assert pending["valid"] is False and pending["head"] == head
    errors = {(e["file"], e["key"]) for e in pending["errors"]}
    assert ("agent.toml", "model") in errors
    assert ("agent.toml", "container.privileged") in errors
    assert all(e["line"] for e in pending["errors"] if e["key"] == "model")
    refused = one_line_error(served.cli("approve", str(pending["id"]), "--sha", head))
    assert "invalid" in refused.lower() or "not valid" in refused
    assert served.json("agents")[0]["deployed"] != head


def test_twenty_concurrent_approves_apply_once(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    head = commit_step(repo, "worker", "02-add-tool")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    approvers = [
        subprocess.Popen(
            [*HIVECTL, "--root", str(served.root), "approve", str(pending["id"]), "--sha", head],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    codes = [p.wait(timeout=60) for p in approvers]
    for p in approvers:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes.count(0) == 1 and codes.count(2) == 19
    history = served.json("history", "worker")
    assert [h["status"] for h in history].count("deployed") == 2  # the spawn and this one
    refs = git(served.layout.agent("worker").applied, "for-each-ref", "refs/hive/deployed")
    assert len(refs.splitlines()) == 2


def test_what_an_agent_wrote_cannot_drive_the_operators_terminal(served: ServedHive) -> None:
    served.deploy("worker")
    repo = served.proposed("worker")
    # A line that would clear the screen and one that would reorder what follows it.
    (repo / "prompt.md").write_text("safe\n\x1b[2J\x1b[Hhidden\nabc\u202edcba\n")
    git(repo, "commit", "-qam", "innocent \x1b[31mred\x1b[0m title")
    pending = served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    shown = served.cli("show", str(pending["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "+\\x1b[2J\\x1b[Hhidden" in shown.stdout
    assert "abc\\u202edcba" in shown.stdout
    assert "innocent \\x1b[31mred\\x1b[0m title" in shown.stdout
    listed = served.cli("pending")
    assert "\x1b" not in listed.stdout and "\\x1b[31mred" in listed.stdout
    assert served.cli("send", "worker", "bell\x07").returncode == 0
    peeked = served.cli("recv", "worker")
    assert "\x07" not in peeked.stdout and "bell\\x07" in peeked.stdout


def _dashboard_status(url: str, token: str) -> int:
    request = urllib.request.Request(
        url + "api/agents", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_token_rotate_ends_the_old_token_of_a_running_controller(served: ServedHive) -> None:
    first = served.cli("token")
    assert first.returncode == 0, first.stderr
    base, _, old = first.stdout.strip().partition("login#token=")
    assert _dashboard_status(base, urllib.parse.unquote(old)) == 200
    rotated = served.cli("token", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "every dashboard session" in rotated.stdout
    new = rotated.stdout.strip().splitlines()[-1].partition("login#token=")[2]
    assert new and new != old
    assert _dashboard_status(base, urllib.parse.unquote(old)) == 401
    assert _dashboard_status(base, urllib.parse.unquote(new)) == 200


def test_show_lists_the_commits_and_json_carries_them(served: ServedHive) -> None:
    assert served.cli("draft", "worker").returncode == 0
    repo = served.proposed("worker")
    (repo / "prompt.md").write_text("Index the docs.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Give the worker a prompt\n\nIt indexes the docs.")
    submitted = served.cli("submit", "worker", "--json")
    assert submitted.returncode == 0, submitted.stderr
    approval_id = str(json.loads(submitted.stdout)["id"])
    shown = served.json("show", approval_id)
    assert shown["commits_total"] == 2  # the template's draft commit, then the prompt
    assert shown["commits"][0]["message"] == "Give the worker a prompt\n\nIt indexes the docs.\n"
    assert shown["commits"][0]["author"] == "manager <manager@hive.test>"
    text = served.cli("show", approval_id)
    assert text.returncode == 0, text.stderr
    assert "2 commits:" in text.stdout and "      It indexes the docs." in text.stdout


def test_init_says_what_is_next_whether_or_not_a_controller_serves(
    hive_root: Path, served: ServedHive
) -> None:
    running = served.cli("init")
    assert running.returncode == 0, running.stderr
    assert "already a hive" in running.stdout and "already serves it" in running.stdout
    assert "next: hivectl" not in running.stdout
    served.stop()
    stopped = served.cli("init")
    assert f"next: hivectl --root {served.root} serve" in stopped.stdout


def test_history_json_says_what_each_proposal_does_to_the_model(served: ServedHive) -> None:
    served.deploy("worker")
    (spawn,) = served.json("history", "worker")
    assert spawn["model_change"] == {
        "from": None,
        "to": "sonnet",
        "source": "default",  # the template names no model
        "note": False,
    }
    commit_step(served.proposed("worker"), "worker", "02-add-tool")
    served.wait_for(lambda: served.pending_for("worker"), what="the commit pinned")
    pending = served.json("history", "worker")[0]
    assert pending["status"] == "pending"
    assert "model_change" in pending and pending["model_change"] is None  # same model
