"""One agent cannot starve the hive: floods, slow peers and the open-files limit, through the
doors an agent has (its socket) and the operator's (the control socket, the dashboard)."""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.client import ControlClient
from gitops_hive.config import load_config
from gitops_hive.hive import Hive
from gitops_hive.layout import HiveLayout

from .conftest import HIVECTL, ServedHive, limit_open_files, make_root, serving

pytestmark = pytest.mark.e2e
FLOOD = 2000  # connections; 20,000 did it in the wild, this is enough under a 512 limit
HEAD_TIMEOUT = 5.0  # limits.request_head_timeout's default
BODY_TIMEOUT = 10.0  # limits.request_body_timeout's default


def connect(address: Path | tuple[str, int], timeout: float = 5.0) -> socket.socket:
    family = socket.AF_UNIX if isinstance(address, Path) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(address) if isinstance(address, Path) else address)
    return sock


def ask(
    address: Path | tuple[str, int],
    method: str,
    target: str,
    body: Any = None,
    headers: str = "",
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One HTTP/1.1 request on a fresh connection: the status and the JSON answer."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {_host(address)}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{headers}\r\n"
    )
    with connect(address, timeout) as sock:
        sock.sendall(head.encode() + payload)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2] or b"null")


def _host(address: Path | tuple[str, int]) -> str:
    return "hive" if isinstance(address, Path) else f"{address[0]}:{address[1]}"


def dashboard(hive: ServedHive) -> tuple[tuple[str, int], str]:
    """The dashboard's address and an Authorization header with the operator's token."""
    url = hive.layout.dashboard_url.read_text().strip()
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    token = hive.layout.token.read_text().strip()
    return (host, int(port)), f"Authorization: Bearer {token}\r\n"


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (reading whatever it answered), else None."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


@contextlib.contextmanager
def more_open_files(count: int) -> Iterator[None]:
    """Let this test process itself hold `count` sockets (the attacker's side)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files in the test process; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Flood(threading.Thread):
    """Half-open connections to one socket, opened as fast as it takes them, then held."""

    def __init__(self, path: Path, count: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.count, self.seconds = path, count, seconds
        self.held: list[socket.socket] = []

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while len(self.held) < self.count and time.monotonic() < deadline:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(str(self.path))
            except (BlockingIOError, ConnectionRefusedError):  # backlog full: try again
                sock.close()
                time.sleep(0.001)
                continue
            self.held.append(sock)

    def close(self) -> None:
        for sock in self.held:
            sock.close()


class ParkedRecv(threading.Thread):
    """An agent's recv, parked on its socket until a message lands."""

    def __init__(self, path: Path, wait: float) -> None:
        super().__init__(daemon=True)
        self.path, self.wait = path, wait
        self.answer: tuple[int, Any] | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            body = {"wait_seconds": self.wait}
            self.answer = ask(self.path, "POST", "/v1/recv", body, timeout=self.wait + 10)
        except Exception as exc:
            self.error = exc


def test_a_flood_on_one_agents_socket_leaves_the_hive_answering(tmp_path: Path) -> None:
    """2,000 half-open connections on one agent's socket, under a 512 open-files limit: the
    control socket and the dashboard answer, another agent's parked recv wakes after the
    head deadline has passed, and the log stays small."""
    with serving(make_root(tmp_path / "hive"), open_files=(512, 512)) as hive:
        client = ControlClient.of(hive.layout)
        client.draft("flooder")
        client.draft("bystander")
        flooded = hive.layout.agent("flooder").socket
        parked = ParkedRecv(hive.layout.agent("bystander").socket, wait=30)
        parked.start()
        parked_at = time.monotonic()
        log_before = hive.log_path.stat().st_size
        web, auth = dashboard(hive)
        with more_open_files(FLOOD):
            flood = Flood(flooded, FLOOD, seconds=8)
            flood.start()
            try:
                time.sleep(1.0)  # the flood is on
                assert ask(hive.layout.control_socket, "GET", "/api/health")[0] == 200
                assert ask(web, "GET", "/api/health", headers=auth)[0] == 200
                assert ask(hive.layout.agent("bystander").socket, "GET", "/v1/whoami")[0] == 200
                flood.join()
                assert len(flood.held) >= FLOOD // 2, "the flood did not get going"
                time.sleep(max(0.0, parked_at + HEAD_TIMEOUT + 1 - time.monotonic()))
                assert ask(hive.layout.control_socket, "GET", "/api/health")[0] == 200
                assert ask(web, "GET", "/api/health", headers=auth)[0] == 200
                client.send("bystander", "still here")
                parked.join(timeout=10)
                assert parked.error is None, parked.error
                assert parked.answer is not None
                status, delivery = parked.answer
                assert status == 200
                assert [m["body"] for m in delivery["messages"]] == ["still here"]
            finally:
                flood.close()
        grown = hive.log_path.stat().st_size - log_before
        assert grown < 16384, hive.log_path.read_text()[-4000:]
        assert "limits.agent_connections" in hive.log_path.read_text()


def test_slow_peers_are_cut_off_on_every_socket_and_answers_still_take_their_time(
    served: ServedHive,
) -> None:
    """A head sent byte by byte, or a body never finished, is cut off after the deadline
    on an agent's socket, the control socket and the dashboard; a parked recv and the
    dashboard's event stream outlive both deadlines."""
    client = ControlClient.of(served.layout)
    client.draft("slow")
    agent = served.layout.agent("slow").socket
    web, auth = dashboard(served)
    with contextlib.ExitStack() as sockets:
        events = sockets.enter_context(connect(web, timeout=30))
        events.sendall(f"GET /api/events HTTP/1.1\r\nHost: {_host(web)}\r\n{auth}\r\n".encode())
        assert b"200 OK" in events.recv(65536)
        parked = ParkedRecv(agent, wait=30)
        parked.start()

        slow_heads = []
        for address in (agent, served.layout.control_socket, web):
            sock = sockets.enter_context(connect(address))
            sock.sendall(b"GET /api/health HTTP/1.1\r\n")  # and never the rest
            slow_heads.append(sock)
        head = "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{}"
        slow_bodies = []
        for address, start in (
            (agent, head.format("/v1/send", "hive", "")),
            (web, head.format("/api/messages", _host(web), auth)),
        ):
            sock = sockets.enter_context(connect(address))
            sock.sendall(f"{start}Content-Length: 100\r\n\r\n{{".encode())
            slow_bodies.append(sock)
        for _ in range(4):  # a byte now and then buys no more time
            time.sleep(0.5)
            with contextlib.suppress(OSError):
                slow_heads[0].sendall(b"X")

        heads_cut = [closed_within(sock, HEAD_TIMEOUT + 2) for sock in slow_heads]
        assert all(cut is not None for cut in heads_cut), heads_cut
        bodies_cut = [closed_within(sock, BODY_TIMEOUT + 2) for sock in slow_bodies]
        assert all(cut is not None for cut in bodies_cut), bodies_cut

        assert parked.is_alive(), "a parked recv outlives the deadlines"
        client.send("slow", "worth the wait")
        parked.join(timeout=10)
        assert parked.answer is not None, parked.error
        assert parked.answer[0] == 200
        client.draft("late")  # a change notice on the stream
        events.settimeout(5)
        seen = b""
        while b"late" not in seen:
            seen += events.recv(65536)


def draft_many(root: Path, count: int) -> None:
    """`count` drafts, made in-process (a hivectl call each would take minutes)."""
    import asyncio

    async def make() -> None:
        layout = HiveLayout(root)
        hive = await Hive.open(layout, load_config(layout.config))
        try:
            for index in range(count):
                await hive.draft(f"agent-{index}")
        finally:
            await hive.close()

    asyncio.run(make())


@pytest.mark.timeout(180)
def test_a_big_hive_starts_under_a_low_soft_limit_and_refuses_a_low_hard_one(
    tmp_path: Path,
) -> None:
    """600 agents: under a hard limit of 1,024 open files `serve` refuses in one line that
    says what it needs and what to do; with only the soft limit at 512 it raises it and
    starts."""
    root = make_root(tmp_path / "hive")
    draft_many(root, 600)
    refused = subprocess.run(
        [*HIVECTL, "--root", str(root), "serve", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_open_files((1024, 1024)),
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr[-2000:]
    line = refused.stderr.strip()
    assert "\n" not in line, line
    assert "600 agents need" in line and "only 1024" in line, line
    assert "ulimit -n" in line and "LimitNOFILE=" in line, line

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 13000:
        pytest.skip(f"600 agents need about 12,400 open files; the hard limit is {hard}")
    hive = ServedHive(root, open_files=(512, hard))
    hive.start(timeout=60)  # 600 sockets and rescans: slower than a small hive
    try:
        assert len(hive.json("agents")) == 600
    finally:
        hive.stop()


def test_a_draft_past_what_the_open_files_allow_is_refused(tmp_path: Path) -> None:
    """Under a hard limit of 600 the hive has room for 10 agents: the 11th draft is refused
    with the reason, before the controller runs out of files for every agent."""
    with serving(make_root(tmp_path / "hive"), open_files=(600, 600)) as hive:
        client = ControlClient.of(hive.layout)
        for index in range(10):
            client.draft(f"agent-{index}")
        refused = hive.cli("draft", "one-too-many")
        assert refused.returncode == 2
        assert "open-files limit" in refused.stderr and "ulimit -n" in refused.stderr
        assert ask(hive.layout.control_socket, "GET", "/api/health")[0] == 200
