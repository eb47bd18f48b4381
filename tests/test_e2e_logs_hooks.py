"""hivectl logs and hivectl hooks install through a real controller: readable, raw and JSON
lines with nothing an agent wrote reaching the terminal as a control, a follow that ends at
Ctrl-C with exit 0, bad input in one line, and hooks written again without following links."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from gitops_hive.resources import hooks_dir
from tests.conftest import HIVECTL, ServedHive, run_hivectl

pytestmark = pytest.mark.e2e
SAID = {"type": "assistant", "message": {"content": [{"type": "text", "text": "hi \x1b[2J there"}]}}
HOSTILE = "plain \x1b]52;c;cHduZWQ=\x07 and \u202eevil\r\n"


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_log(served: ServedHive, agent: str, text: str) -> Path:
    log = served.layout.agent(agent).log
    with log.open("a") as out:
        out.write(text)
    return log


def test_logs_reads_as_the_page_does_and_escapes_what_the_agent_wrote(served: ServedHive) -> None:
    assert served.cli("draft", "scout").returncode == 0
    write_log(served, "scout", json.dumps(SAID) + "\n" + HOSTILE)
    shown = served.cli("logs", "scout")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "hi \\x1b[2J there",
        "plain \\x1b]52;c;cHduZWQ=\\x07 and \\u202eevil\\x0d",
    ]
    raw = served.cli("logs", "scout", "--raw", "-n", "1")
    assert raw.stdout == "plain \\x1b]52;c;cHduZWQ=\\x07 and \\u202eevil\\x0d\n"
    for result in (shown, raw):
        assert not any(c in result.stdout for c in "\x1b\x07\r\u202e")
    document = served.json("logs", "scout")
    assert document["lines"][0] == json.dumps(SAID) and document["exists"] is True
    assert document["readable"][0] == {"kind": "text", "text": "hi \\x1b[2J there"}


def test_logs_refuses_bad_input_in_one_line_and_says_when_there_is_no_log(
    served: ServedHive,
) -> None:
    assert "ghost" in one_line_error(served.cli("logs", "ghost"))
    assert "name" in one_line_error(served.cli("logs", "../etc"))
    assert served.cli("draft", "scout").returncode == 0
    for bad in ("0", "-3", "many"):
        assert "--lines" in one_line_error(served.cli("logs", "scout", "-n", bad))
    assert "1 to 10000" in one_line_error(served.cli("logs", "scout", "-n", "10001"))
    empty = served.cli("logs", "scout")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "no log yet" in empty.stderr and len(empty.stderr.splitlines()) == 1


def test_logs_follow_prints_new_lines_until_ctrl_c_then_exits_0(served: ServedHive) -> None:
    assert served.cli("draft", "scout").returncode == 0
    write_log(served, "scout", "before\n")
    with subprocess.Popen(
        [*HIVECTL, "--root", str(served.root), "logs", "scout", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        assert follower.stdout is not None
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(iter(follower.stdout.readline, "")))
        reader.start()
        try:
            served.wait_for(lambda: "before\n" in seen, what="the tail printed")
            write_log(served, "scout", "after \x1b[31mred\n")
            served.wait_for(lambda: "after \\x1b[31mred\n" in seen, what="the line followed")
        finally:
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=30) == 0
            reader.join(timeout=30)
    assert seen == ["before\n", "after \\x1b[31mred\n"]


def test_hooks_install_reports_per_agent_and_replaces_a_planted_link(
    served: ServedHive, tmp_path: Path
) -> None:
    for name in ("scout", "worker"):
        assert served.cli("draft", name).returncode == 0
    outside = tmp_path / "outside"
    outside.write_text("the operator's file\n")
    hook = served.proposed("scout") / ".git" / "hooks" / "post-commit"
    hook.unlink()
    hook.symlink_to(outside)
    foreign = served.proposed("worker") / ".git" / "hooks" / "post-commit"
    foreign.write_text("#!/bin/sh\nexit 1\n")
    retired = served.proposed("worker") / ".git" / "hooks" / "reference-transaction"
    retired.write_text("#!/bin/sh\n# gitops-hive: an older release's hook\n")
    report = {entry["agent"]: entry for entry in served.json("hooks", "install")}
    assert set(report) == {"scout", "worker"}
    scout = {f["name"]: f for f in report["scout"]["files"]}
    assert (
        scout["post-commit"]["result"] == "replaced" and "symlink" in scout["post-commit"]["detail"]
    )
    worker = {f["name"]: f["result"] for f in report["worker"]["files"]}
    assert worker["post-commit"] == "replaced" and worker["reference-transaction"] == "removed"
    assert not retired.exists()
    assert outside.read_text() == "the operator's file\n"
    assert not hook.is_symlink() and hook.read_bytes() == (hooks_dir() / "post-commit").read_bytes()
    again = served.cli("hooks", "install", "scout")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "scout: installed" and "unchanged" in again.stdout


def test_hooks_install_refuses_an_unknown_name_before_writing_any(served: ServedHive) -> None:
    assert served.cli("draft", "scout").returncode == 0
    hook = served.proposed("scout") / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\n# mine\n")
    assert "ghost" in one_line_error(served.cli("hooks", "install", "scout", "ghost"))
    assert hook.read_text() == "#!/bin/sh\n# mine\n"


def test_hooks_install_says_why_an_agent_could_not_be_done_and_exits_1(
    served: ServedHive,
) -> None:
    assert served.cli("draft", "scout").returncode == 0
    hook = served.proposed("scout") / ".git" / "hooks" / "post-commit"
    hook.unlink()
    hook.mkdir()
    result = served.cli("hooks", "install")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("scout: not installed:") and "is a folder" in result.stdout


def test_hooks_alone_shows_what_it_can_do(hive_root: Path) -> None:
    shown = run_hivectl(hive_root, "hooks")
    assert shown.returncode == 0 and "install" in shown.stdout and shown.stderr == ""
    assert "bogus" in one_line_error(run_hivectl(hive_root, "hooks", "bogus"))
