"""Agents' sockets and the operator's conversation commands, against a real controller."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServedHive, make_root, serving
from tests.repo_factory import commit_step

pytestmark = pytest.mark.e2e


def call(sock: Path, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One HTTP request on an agent's unix socket, the way hive-mcp makes it."""
    payload = json.dumps(body).encode() if body is not None else b""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: hive\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(30)
        client.connect(str(sock))
        client.sendall(request)
        raw = b""
        while chunk := client.recv(65536):
            raw += chunk
    head, _, data = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(data) if data else None


def inbox(served: ServedHive, agent: str) -> list[dict[str, Any]]:
    return list(served.json("recv", agent)["messages"])


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_draft_has_its_socket_and_inbox(served: ServedHive) -> None:
    assert served.cli("draft", "scout").returncode == 0
    sock = served.layout.agent("scout").socket
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    status, me = call(sock, "GET", "/v1/whoami")
    assert status == 200 and me["name"] == "scout" and me["recipients"] == []
    sent = served.cli("send", "scout", "read the brief when you start", "--json")
    assert sent.returncode == 0, sent.stderr
    assert [m["body"] for m in inbox(served, "scout")] == ["read the brief when you start"]
    assert inbox(served, "scout")[0]["delivered_at"] is None  # the operator's view leaves it


def test_the_socket_is_the_identity_and_recipients_bind(served: ServedHive) -> None:
    served.deploy("manager")
    served.deploy("worker")
    served.cli("draft", "scout")
    worker = served.layout.agent("worker").socket
    status, _ = call(worker, "POST", "/v1/send", {"to": "manager", "body": "done", "from": "scout"})
    assert status == 201
    mail = [m for m in inbox(served, "manager") if m["kind"] == "message"]
    assert [(m["from"], m["body"]) for m in mail] == [("worker", "done")]

    status, refused = call(worker, "POST", "/v1/send", {"to": "scout", "body": "hi"})
    assert status == 403 and "[messaging] recipients" in refused["error"]
    status, _ = call(
        served.layout.agent("manager").socket, "POST", "/v1/send", {"to": "scout", "body": "hi"}
    )
    assert status == 201  # the manager may message anyone
    status, refused = call(worker, "GET", "/v1/manager/list_agents")
    assert status == 403 and "manager only" in refused["error"]
    status, refused = call(worker, "POST", "/v1/manager/request_spawn", {"name": "x"})
    assert status == 403 and "manager only" in refused["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
def test_another_uid_is_refused_by_peer_credentials(served: ServedHive) -> None:
    served.deploy("worker")
    sock = served.layout.agent("worker").socket
    # Give the other uid a way in (a hard link in a folder it can reach, the inode 0666):
    # the permissions are the first wall, the peer check the one under test here.
    door = Path(tempfile.mkdtemp(prefix="hive-door-"))
    door.chmod(0o755)
    os.link(sock, door / "hive.sock")
    sock.chmod(0o666)
    script = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(door / 'hive.sock')!r})\n"
        "s.sendall(b'GET /v1/whoami HTTP/1.1\\r\\nHost: hive\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "print(s.recv(4096).decode().split()[1])\n"
    )
    python = "/usr/bin/python3"  # the venv's interpreter may sit under root's 0700 home
    if not os.access(python, os.X_OK):
        pytest.skip(f"{python} is needed to run a client as another uid")
    result = subprocess.run(
        [python, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        user=65534,
        group=65534,
        cwd="/",
    )
    (door / "hive.sock").unlink()
    door.rmdir()
    sock.chmod(0o600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "403"
    assert call(sock, "GET", "/v1/whoami")[0] == 200  # the agent's own uid still gets in


def test_a_recv_caller_that_hangs_up_loses_nothing(served: ServedHive) -> None:
    served.deploy("worker")
    sock = served.layout.agent("worker").socket
    body = json.dumps({"wait_seconds": 30}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as parked:
        parked.connect(str(sock))
        parked.sendall(
            b"POST /v1/recv HTTP/1.1\r\nHost: hive\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    # The caller is gone; the message lands after.
    assert served.cli("send", "worker", "still here").returncode == 0
    status, got = call(sock, "POST", "/v1/recv", {"wait_seconds": 5})
    assert status == 200 and [m["body"] for m in got["messages"]] == ["still here"]
    status, again = call(sock, "POST", "/v1/recv", {"wait_seconds": 0})
    assert again["messages"] == []


def test_a_long_wait_is_clamped_and_the_reply_says_so(served: ServedHive) -> None:
    served.deploy("worker")
    served.cli("send", "worker", "ready")
    status, got = call(
        served.layout.agent("worker").socket, "POST", "/v1/recv", {"wait_seconds": 500}
    )
    assert status == 200 and got["wait_seconds"] == 180 and "clamped" in got["note"]
    status, bad = call(
        served.layout.agent("worker").socket, "POST", "/v1/recv", {"wait_seconds": -1}
    )
    assert status == 400 and "wait_seconds" in bad["error"]


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[ServedHive]:
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    text = config.read_text()
    text = text.replace("message_bytes = 65536", "message_bytes = 100")
    text = text.replace("inbox_depth = 1000", "inbox_depth = 3")
    config.write_text(text)
    with serving(root) as hive:
        yield hive


def test_size_and_depth_limits_give_clear_errors(small_limits: ServedHive) -> None:
    small_limits.cli("draft", "worker")
    assert "over the limit of 100" in one_line_error(small_limits.cli("send", "worker", "x" * 101))
    for i in range(3):
        assert small_limits.cli("send", "worker", f"m{i}").returncode == 0
    assert "inbox of worker is full" in one_line_error(small_limits.cli("send", "worker", "more"))


def test_questions_are_answered_once_into_the_managers_inbox(served: ServedHive) -> None:
    served.deploy("manager")
    status, asked = call(
        served.layout.agent("manager").socket,
        "POST",
        "/v1/manager/ask_operator",
        {"question": "Which model for the scout?", "options": ["haiku", "sonnet"]},
    )
    assert status == 201
    listed = served.json("questions")
    assert [(q["id"], q["question"], q["options"], q["answer"]) for q in listed] == [
        (asked["id"], "Which model for the scout?", ["haiku", "sonnet"], None)
    ]
    table = served.cli("questions")
    assert "Which model for the scout?" in table.stdout
    assert served.cli("answer", str(asked["id"]), "haiku").returncode == 0
    assert "already answered" in one_line_error(served.cli("answer", str(asked["id"]), "opus"))
    assert served.json("questions") == []
    assert served.json("questions", "--all")[0]["answer"] == "haiku"
    answers = [m for m in inbox(served, "manager") if m["kind"] == "answer"]
    assert [(a["body"], a["data"]["question_id"]) for a in answers] == [("haiku", asked["id"])]
    assert "no question #99" in one_line_error(served.cli("answer", "99", "x"))


def test_stop_and_start_keep_repo_state_and_inbox(served: ServedHive) -> None:
    deployed = served.deploy("worker")["head"]
    pid = served.json("agents")[0]["runtime"]["pid"]
    assert served.cli("stop", "worker").returncode == 0
    agent = served.json("agents")[0]
    assert agent["status"] == "stopped" and agent["runtime"]["pid"] is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert served.cli("send", "worker", "for later").returncode == 0

    served.stop()
    served.start()
    assert served.json("agents")[0]["status"] == "stopped"  # still, after a restart
    assert served.cli("start", "worker").returncode == 0
    agent = served.json("agents")[0]
    assert (agent["status"], agent["runtime"]["sha"]) == ("running", deployed)
    assert [m["body"] for m in inbox(served, "worker")] == ["for later"]
    assert "never deployed" in one_line_error(
        (served.cli("draft", "scout"), served.cli("start", "scout"))[1]
    )


def test_decisions_and_crashes_reach_the_manager(patient_served: ServedHive) -> None:
    served = patient_served  # its failing start must be seen failing
    served.deploy("manager")
    worker = served.deploy("worker")
    repo = served.proposed("worker")
    commit_step(repo, "worker", "02-add-tool")
    denied = served.wait_for(lambda: served.pending_for("worker"), what="a proposal")
    served.cli("deny", str(denied["id"]), "--reason", "too broad")
    broken = commit_step(repo, "worker", "04-failing-start")
    failing = served.wait_for(
        lambda: (p := served.pending_for("worker")) and p["head"] == broken and p, what="it"
    )
    assert served.cli("approve", str(failing["id"]), "--sha", broken).returncode == 1
    os.kill(served.json("agents")[1]["runtime"]["pid"], signal.SIGKILL)  # started by this test

    def notices() -> dict[str, dict[str, Any]]:
        return {m["kind"]: m for m in inbox(served, "manager") if m["from"] == "hive"}

    seen = served.wait_for(lambda: "agent_crashed" in (n := notices()) and n, what="the crash")
    deployed = [m["data"] for m in inbox(served, "manager") if m["kind"] == "approval_deployed"]
    assert {"agent": "worker", "head": worker["head"]}.items() <= next(
        d for d in deployed if d["agent"] == "worker"
    ).items()
    assert seen["approval_denied"]["data"]["reason"] == "too broad"
    assert seen["approval_failed"]["data"]["approval"] == failing["id"]
    assert any(
        "SCRIPTED_AGENT_EXIT" in line for line in seen["approval_failed"]["data"]["log_tail"]
    )
    crash = seen["agent_crashed"]["data"]
    assert crash["agent"] == "worker" and crash["exit"] != 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["send", "nobody", "hi"], "no agent nobody"),
        (["send", "Bad/Name", "hi"], "Bad/Name"),
        (["send", "worker", ""], "body"),
        (["recv", "worker", "--wait", "-1"], "-1"),
        (["answer", "x", "yes"], "not a number"),
        (["stop", "nobody"], "no agent nobody"),
    ],
)
def test_bad_input_is_one_line(served: ServedHive, args: list[str], expected: str) -> None:
    served.cli("draft", "worker")
    assert expected in one_line_error(served.cli(*args))
