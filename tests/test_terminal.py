"""The terminal into an agent: guards and tickets (pure), then the real app over a WebSocket
with a real shell on a real pty, on a real hive (process runtime)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gitops_hive import repos
from gitops_hive.config import load_config
from gitops_hive.errors import Conflict, Forbidden
from gitops_hive.hive import Hive
from gitops_hive.init_root import write_token
from gitops_hive.layout import HiveLayout
from gitops_hive.records import Event
from gitops_hive.runtime.shell import ShellCommand, find_leader, nspawn_shell, process_shell
from gitops_hive.runtime.terminal import PtyProcess, session_members
from gitops_hive.store import queries
from gitops_hive.terminals import sessions
from gitops_hive.terminals.guards import OutputFilter, RateCap
from gitops_hive.terminals.tickets import TicketBook
from gitops_hive.web import terminal_api
from gitops_hive.web.app import make_web_app
from gitops_hive.web.security import SESSION_COOKIE, Guard, allowed_hosts_for, read_token
from tests.conftest import HIVECTL, ServedHive, make_root

Client = TestClient[Any, Any]


# pure parts


def test_osc52_and_paste_markers_are_cut_even_split_across_reads() -> None:
    stream = b"a\x1b]52;c;aGVsbG8=\x07b\x1b[201~c\x1b]52;p;eA==\x1b\\d\xc2\x9d52;c;eA==\x07e"
    whole = OutputFilter().feed(stream)
    assert whole == b"abcde"
    for size in (1, 2, 3, 5):
        split = OutputFilter()
        out = b"".join(split.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        assert out == b"abcde", size


@pytest.mark.parametrize(
    "hostile",
    [
        b"\x1b]052;c;aGk=\x07",  # a terminal reads the number 052 as 52
        b"\x1b]" + b"0" * 300 + b"52;c;aGk=\x07",
        b"\xc2\x9d0052;c;aGk=\xc2\x9c",
        b"\xc2\x9b201~",  # CSI as its 8-bit (C1) code
        b"\xc2\x9b200~",
    ],
)
def test_every_spelling_of_osc52_and_the_paste_markers_is_cut(hostile: bytes) -> None:
    stream = b"a" + hostile + b"b\x1b]0;title\x07c"
    for size in (1, 2, 3, 7, len(stream)):
        split = OutputFilter()
        out = b"".join(split.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        assert out == b"ab\x1b]0;title\x07c", size


def test_other_escapes_pass_and_a_held_prefix_comes_out_later() -> None:
    f = OutputFilter()
    assert f.feed(b"\x1b[1mbold\x1b[0m\x1b") == b"\x1b[1mbold\x1b[0m"
    assert f.feed(b"[2J") == b"\x1b[2J"  # the held ESC was not the start of a cut sequence


def test_the_rate_cap_asks_to_wait_once_the_burst_is_spent() -> None:
    cap = RateCap(1000)
    assert cap.take(1000, now=0.0) == 0.0
    assert cap.take(500, now=0.0) == pytest.approx(0.5)
    assert cap.take(0, now=0.5) == 0.0  # refilled at the rate


def test_a_ticket_is_used_once_expires_and_is_bound_to_agent_and_login() -> None:
    now = [0.0]
    book = TicketBook(ttl=30, clock=lambda: now[0])
    token = book.issue("worker", "op", "login-a")
    assert book.take(token, "worker", "login-a").who == "op"
    with pytest.raises(Forbidden, match="used or expired"):
        book.take(token, "worker", "login-a")
    late = book.issue("worker", "op", "login-a")
    now[0] = 30.0
    with pytest.raises(Forbidden, match="used or expired"):
        book.take(late, "worker", "login-a")
    other = book.issue("worker", "op", "login-a")
    with pytest.raises(Forbidden, match="another agent or login"):
        book.take(other, "worker", "login-b")


def test_a_process_shell_runs_in_the_state_folder_and_says_it_is_not_isolated(
    tmp_path: Path,
) -> None:
    shell = process_shell(tmp_path, ["/bin/sh"])
    assert shell.cwd == tmp_path and shell.env["HOME"] == str(tmp_path)
    assert not shell.isolated and "NOT isolated" in shell.where
    assert "HIVE_ROOT" not in shell.env and "PYTHONPATH" not in shell.env


def test_a_process_without_a_container_child_has_no_leader() -> None:
    with pytest.raises(Conflict, match="no leader"):
        find_leader(os.getpid())


# the app


class Term:
    """A hive with a running worker and its dashboard client."""

    def __init__(self, hive: Hive, client: Client, guard: Guard) -> None:
        self.hive, self.client, self.guard = hive, client, guard
        self.auth = {"Authorization": f"Bearer {guard.token}", "X-CSRF-Token": guard.csrf_token}

    async def ticket(self, agent: str = "worker", headers: dict[str, str] | None = None) -> Any:
        response = await self.client.post(
            f"/api/agents/{agent}/terminal", json={}, headers=headers or self.auth
        )
        return response.status, await response.json()

    async def connect(self, token: str, **headers: str) -> aiohttp.ClientWebSocketResponse:
        return await self.client.ws_connect(
            f"/api/agents/worker/terminal/ws?ticket={token}&cols=100&rows=30",
            headers={"Authorization": self.auth["Authorization"], **headers},
        )


async def read_until(ws: aiohttp.ClientWebSocketResponse, needle: bytes) -> bytes:
    """Terminal bytes until `needle` shows (the test's own timeout bounds it)."""
    seen = b""
    while needle not in seen:
        message = await ws.receive()
        if message.type is aiohttp.WSMsgType.BINARY:
            seen += message.data
        elif message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed before {needle!r}: {seen!r}")
    return seen


async def ended(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The reason the server gives when it ends the session."""
    while True:
        message = await ws.receive()
        if message.type is aiohttp.WSMsgType.TEXT and "ended" in json.loads(message.data):
            return str(json.loads(message.data)["ended"])
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            raise AssertionError("closed without saying why")


async def session_event(hive: Hive, agent: str) -> Event:
    """The recorded end of a session (written once the server saw the socket close)."""
    while True:
        events = await queries.list_events(hive.ctx.db, agent)
        found = [e for e in events if e.kind == "terminal_session"]
        if found:
            return found[0]
        await asyncio.sleep(0.02)


async def open_term(
    tmp_path: Path, aiohttp_client: Any, idle: str = "15m", rate: int = 262_144
) -> Term:
    root = make_root(tmp_path / "hive")
    config = root / "hive.toml"
    text = config.read_text()
    text = text.replace("idle_timeout = 900.0", f'idle_timeout = "{idle}"')
    text = text.replace("output_rate = 262144", f"output_rate = {rate}")
    config.write_text(text.replace('["/bin/bash", "-l"]', '["/bin/sh"]'))
    layout = HiveLayout(root)
    repos.isolate_from_user_config(layout.run / "empty-gitconfig")
    hive = await Hive.open(layout, load_config(layout.config))
    await hive.start()
    spawned = await hive.spawn("worker")
    await hive.approve(spawned.id, spawned.head, "test", wait=True)
    guard = Guard(read_token(layout.token), token_file=layout.token, sessions=hive.sessions)
    client = await aiohttp_client(make_web_app(hive, guard))
    guard.allowed_hosts.update(allowed_hosts_for("127.0.0.1", client.port))
    return Term(hive, client, guard)


@pytest.fixture
async def term(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Term]:
    made = await open_term(tmp_path, aiohttp_client)
    try:
        yield made
    finally:
        await made.hive.close()


async def test_a_shell_answers_over_the_socket_and_the_session_is_an_event(term: Term) -> None:
    status, ticket = await term.ticket()
    assert status == 201 and ticket["isolated"] is False and ticket["expires_in"] == 30
    ws = await term.connect(ticket["ticket"])
    await ws.send_bytes(b"echo $((6*7)); pwd\r")
    seen = await read_until(ws, b"42\r\n")
    state = str(term.hive.agent_layout("worker").state).encode()
    if state + b"\r\n" not in seen:  # pwd: the shell starts in the agent's state folder
        await read_until(ws, state + b"\r\n")
    await ws.send_str(json.dumps({"resize": [120, 40]}))
    await ws.send_bytes(b"stty size\r")
    await read_until(ws, b"40 120")
    await ws.close()
    session = await session_event(term.hive, "worker")
    events = await queries.list_events(term.hive.ctx.db, "worker")
    assert session.data["who"] == "operator (web)"
    assert session.data["bytes_in"] == len(b"echo $((6*7)); pwd\rstty size\r")
    assert session.data["bytes_out"] > 0 and session.data["ended"] >= session.data["started"]
    assert any(e.kind == "terminal_opened" for e in events)


async def test_agent_output_cannot_write_the_clipboard(term: Term) -> None:
    _, ticket = await term.ticket()
    ws = await term.connect(ticket["ticket"])
    await ws.send_bytes(b"printf 'x\\033]52;c;aGk=\\007y\\033[201~z\\n'; echo do''ne\r")
    seen = await read_until(ws, b"done\r\n")
    assert b"xyz" in seen and b"\x1b]52;" not in seen and b"\x1b[201~" not in seen
    await ws.close()


async def test_a_ticket_needs_csrf_and_works_once(term: Term) -> None:
    status, body = await term.ticket(headers={"Authorization": term.auth["Authorization"]})
    assert status == 403 and body["code"] == "csrf"
    _, ticket = await term.ticket()
    first = await term.connect(ticket["ticket"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await term.connect(ticket["ticket"])
    assert refused.value.status == 403
    await first.close()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await term.connect("made-up")


async def test_a_cross_origin_socket_is_refused_and_the_ticket_survives(term: Term) -> None:
    _, ticket = await term.ticket()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await term.connect(ticket["ticket"], Origin="http://evil.example:8470")
    assert refused.value.status == 403
    same = await term.connect(ticket["ticket"], Origin=f"http://127.0.0.1:{term.client.port}")
    await same.close()


async def test_logout_ends_the_sessions_of_that_login(term: Term) -> None:
    cookie = await term.guard.sessions.open(term.guard.token)
    browser = {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": term.guard.csrf_token}
    status, ticket = await term.ticket(headers=browser)
    assert status == 201
    ws = await term.client.ws_connect(
        f"/api/agents/worker/terminal/ws?ticket={ticket['ticket']}", headers=browser
    )
    _, other = await term.ticket()  # the bearer token's, another login
    bystander = await term.connect(other["ticket"])
    response = await term.client.post(
        "/logout", data={"csrf": term.guard.csrf_token}, headers=browser, allow_redirects=False
    )
    assert response.status == 303
    assert await ended(ws) == "logged out"
    await bystander.send_bytes(b"echo still here\r")
    await read_until(bystander, b"still here\r\n")
    await bystander.close()


async def test_a_rotated_token_ends_the_sessions_it_let_in(
    term: Term, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminal_api, "LOGIN_CHECK_EVERY", 0.05)
    cookie = await term.guard.sessions.open(term.guard.token)
    browser = {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": term.guard.csrf_token}
    _, ticket = await term.ticket(headers=browser)
    ws = await term.client.ws_connect(
        f"/api/agents/worker/terminal/ws?ticket={ticket['ticket']}", headers=browser
    )
    assert term.guard.token_file is not None
    write_token(term.guard.token_file)  # what `hivectl token --rotate` does
    assert await ended(ws) == "the login ended"


async def test_ending_a_session_ends_what_it_left_running(term: Term) -> None:
    _, ticket = await term.ticket()
    ws = await term.connect(ticket["ticket"])
    await ws.send_bytes(b"nohup sleep 7717 >/dev/null 2>&1 & echo started\r")
    await read_until(ws, b"started\r\n")
    session = next(iter(term.hive.terminals.live))
    sid = session.pty.process.pid

    def sleeping() -> bool:
        found = False
        for pid in session_members(sid):
            with contextlib.suppress(OSError):
                found |= b"sleep\x007717" in Path(f"/proc/{pid}/cmdline").read_bytes()
        return found

    while True:  # the job forks, then execs: wait for it (the test's timeout bounds)
        if sleeping():
            break
        await asyncio.sleep(0.02)
    await ws.close()
    await session_event(term.hive, "worker")
    while True:  # SIGKILL sent; the kernel takes a moment to end it
        if session_members(sid) == []:
            break
        await asyncio.sleep(0.02)


async def test_stopping_the_agent_ends_its_sessions_and_refuses_new_ones(term: Term) -> None:
    _, ticket = await term.ticket()
    ws = await term.connect(ticket["ticket"])
    await term.hive.stop("worker", "test")
    assert await ended(ws) == "worker was stopped by test"
    status, body = await term.ticket()
    assert status == 409 and "start it first" in body["error"]


async def test_the_idle_timeout_ends_the_session(tmp_path: Path, aiohttp_client: Any) -> None:
    made = await open_term(tmp_path, aiohttp_client, idle="1s")
    try:
        _, ticket = await made.ticket()
        ws = await made.connect(ticket["ticket"])
        assert await ended(ws) == "idle for 1 s"
        assert (await session_event(made.hive, "worker")).data["reason"] == "idle for 1 s"
    finally:
        await made.hive.close()


def test_an_nspawn_shell_enters_every_namespace_as_root_inside_and_starts_in_state() -> None:
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter is missing (util-linux)")
    shell = nspawn_shell(4242, ["/bin/bash", "-l"])
    argv = list(shell.argv)
    assert argv[1] == "--target=4242" and {"--user", "--pid", "--mount"} <= set(argv)
    assert "--setuid=0" in argv and argv[-2:] == ["/bin/bash", "-l"]
    assert 'cd /state && exec "$@"' in argv and shell.isolated
    assert shell.env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/state",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


@pytest.mark.e2e
def test_hivectl_shell_opens_the_same_session_over_the_control_socket(served: ServedHive) -> None:
    served.deploy("worker")
    result = subprocess.run(
        [*HIVECTL, "--root", str(served.root), "shell", "worker"],
        input="echo $((6*7))\nexit\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "\n42\n" in result.stdout  # text mode reads the \r\n as \n
    assert "NOT isolated" in result.stderr
    assert "[session ended: the shell exited]" in result.stderr
    refused = served.cli("shell", "nobody")
    assert refused.returncode == 2 and "error:" in refused.stderr


async def test_output_past_the_rate_cap_waits_for_the_bucket(
    tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[int, float, float]] = []  # size, when, how long it had to wait

    class CountedCap(RateCap):
        """The real bucket, with every answer it gave kept."""

        def take(self, size: int, now: float) -> float:
            delay = super().take(size, now)
            asked.append((size, now, delay))
            return delay

    monkeypatch.setattr(sessions, "RateCap", CountedCap)
    made = await open_term(tmp_path, aiohttp_client, rate=40_000)
    try:
        _, ticket = await made.ticket()
        ws = await made.connect(ticket["ticket"])
        await ws.send_bytes(b"head -c 100000 /dev/zero | tr '\\0' x; echo; echo do''ne\r")
        seen = await read_until(ws, b"done\r\n")
        assert seen.count(b"x") >= 100_000  # everything arrives, only later
        taken = sum(size for size, _, _ in asked)
        assert taken == next(iter(made.hive.terminals.live)).bytes_out
        assert any(delay > 0 for _, _, delay in asked)  # 100 kB overdraws a 40 kB/s bucket
        # However loaded the machine: no read goes before the last one's wait is over, and by
        # the time each goes, no more left than the burst plus the rate since the first.
        start, sent = asked[0][1], 0
        afters = [now for _, now, _ in asked[1:]] + [float("inf")]
        for (size, now, delay), next_now in zip(asked, afters, strict=True):
            sent += size
            assert next_now >= now + delay - 1e-3
            assert sent <= 40_000 + 40_000 * (now + delay - start) + 1
        await ws.close()
    finally:
        await made.hive.close()


@pytest.mark.e2e
def test_hivectl_shell_on_a_terminal_is_raw_and_follows_its_size(served: ServedHive) -> None:
    served.deploy("worker")
    argv = (*HIVECTL, "--root", str(served.root), "shell", "worker")
    command = ShellCommand(argv, dict(os.environ), served.root, isolated=False, where="test")

    async def drive() -> bytes:
        local = await PtyProcess.spawn(command, cols=80, rows=24)
        seen = b""

        async def until(needle: bytes, poke: bytes = b"") -> None:
            """Read until `needle` shows, typing `poke` again each half second it does not."""
            nonlocal seen
            try:
                async with asyncio.timeout(30):
                    while needle not in seen:
                        if poke:
                            await local.write(poke)
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.5 if poke else None):
                                chunk = await local.read()
                                assert chunk, f"hivectl shell ended before {needle!r}: {seen!r}"
                                seen += chunk
            except TimeoutError:
                raise AssertionError(f"no {needle!r} within 30 s: {seen!r}") from None

        try:
            await until(b"NOT isolated")  # connected, in raw mode from here on
            await local.write(b"echo $((6*7))\r")  # raw mode: the remote line editor echoes
            await until(b"42\r\n")
            # SIGWINCH to hivectl, which tells the session; a keystroke may overtake it
            local.resize(111, 33)
            await until(b"33 111", poke=b"stty size\r")
            await local.write(b"exit\r")
            await until(b"[session ended: the shell exited]")
        finally:
            await local.close()
        return seen

    assert b"NOT isolated" in asyncio.run(drive())


@pytest.mark.parametrize("cols", ["²", "9" * 5000, "-3", "1e3"])
async def test_a_size_that_is_no_number_opens_the_default_size(term: Term, cols: str) -> None:
    _, ticket = await term.ticket()
    ws = await term.client.ws_connect(
        f"/api/agents/worker/terminal/ws?ticket={ticket['ticket']}&cols={cols}&rows=30",
        headers={"Authorization": term.auth["Authorization"]},
    )
    await ws.send_bytes(b"stty size\r")
    await read_until(ws, b"30 80")
    await ws.close()
