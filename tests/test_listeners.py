"""A guarded listener, in process: the connection cap, the head and body deadlines, and
answers that take longer than both."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gitops_hive.web.jsonhttp import json_body, serve_unix_socket
from gitops_hive.web.limits import ListenerLimits
from gitops_hive.web.log_throttle import THROTTLE

LIMITS = ListenerLimits(
    name="agent test",
    connections=2,
    connections_setting="limits.agent_connections",
    head_timeout=0.3,
    body_timeout=0.3,
)
SLOW_ANSWER = 1.0  # seconds: longer than both deadlines


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hive-listen-") as tmp:
        yield Path(tmp)


async def echo(request: web.Request) -> web.Response:
    body = await json_body(request)
    if request.query.get("slow"):
        await asyncio.sleep(SLOW_ANSWER)
    return web.json_response({"got": body})


@pytest.fixture
async def sock(short_dir: Path) -> AsyncIterator[Path]:
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    path = short_dir / "hive.sock"
    runner = await serve_unix_socket(app, path, LIMITS)
    try:
        yield path
    finally:
        await runner.cleanup()


class Peer:
    """A raw connection: what a hostile agent can do with its socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, path: Path) -> Peer:
        return cls(*await asyncio.open_unix_connection(str(path)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, within: float = 5.0) -> tuple[int, Any]:
        """Read until the server closes: the status and the JSON body."""
        raw = await asyncio.wait_for(self.reader.read(), within)
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    async def closed_after(self, within: float) -> float:
        """Seconds until the server ended the connection (failing past `within`)."""
        started = time.monotonic()
        while await asyncio.wait_for(self.reader.read(65536), within):
            pass
        return time.monotonic() - started

    def close(self) -> None:
        self.writer.close()


def request(method: str = "GET", target: str = "/echo", body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: hive\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def test_a_connection_past_the_cap_is_answered_503_and_closed_at_once(sock: Path) -> None:
    idle = [await Peer.open(sock) for _ in range(LIMITS.connections)]
    refused = await Peer.open(sock)
    status, error = await refused.answer(within=1.0)
    assert status == 503 and error["code"] == "limit_exceeded"
    assert "limits.agent_connections" in error["error"]
    idle.pop().close()
    await asyncio.sleep(0.05)
    served = await Peer.open(sock)
    await served.send(request("POST", "/echo", b'{"a": 1}'))
    assert await served.reader.readuntil(b"\r\n") == b"HTTP/1.1 200 OK\r\n"
    for peer in [*idle, refused, served]:
        peer.close()


async def test_a_head_sent_byte_by_byte_is_cut_off_at_the_deadline(sock: Path) -> None:
    peer = await Peer.open(sock)
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        for byte in request():
            await peer.send(bytes([byte]))
            await asyncio.sleep(0.05)
    assert time.monotonic() - started < LIMITS.head_timeout + 0.5
    peer.close()
    # Its slot is free again: the cap still lets two peers in.
    peers = [await Peer.open(sock) for _ in range(LIMITS.connections)]
    for peer in peers:
        await peer.send(request())
        assert (await peer.reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        peer.close()


async def test_a_connection_that_sends_nothing_is_cut_off(sock: Path) -> None:
    peer = await Peer.open(sock)
    assert await peer.closed_after(within=LIMITS.head_timeout + 1.0) >= 0.2
    peer.close()


async def test_a_body_never_finished_is_answered_408_and_cut_off(sock: Path) -> None:
    peer = await Peer.open(sock)
    head = b"POST /echo HTTP/1.1\r\nHost: hive\r\nContent-Length: 100\r\n\r\n{"
    await peer.send(head)
    status, error = await peer.answer(within=LIMITS.body_timeout + 1.0)
    assert status == 408 and error["code"] == "request_timeout"
    assert "limits.request_body_timeout" in error["error"]
    peer.close()


async def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(
    sock: Path,
) -> None:
    peer = await Peer.open(sock)
    await peer.send(request())
    await peer.reader.readuntil(b"\r\n\r\n")
    await peer.reader.readuntil(b"}")
    await peer.send(b"GET /echo HT")  # and no more
    assert await peer.closed_after(within=LIMITS.head_timeout + 1.0) < LIMITS.head_timeout + 1
    peer.close()


async def test_answers_may_take_longer_than_both_deadlines(sock: Path) -> None:
    peer = await Peer.open(sock)
    started = time.monotonic()
    await peer.send(request("POST", "/echo?slow=1", b'{"wait": true}'))
    raw = await asyncio.wait_for(peer.reader.readuntil(b"}}"), SLOW_ANSWER + 2)
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b'{"got": {"wait": true}}')
    assert time.monotonic() - started >= SLOW_ANSWER
    peer.close()


async def test_a_flood_of_refusals_is_one_log_line_a_second(
    sock: Path, caplog: pytest.LogCaptureFixture
) -> None:
    THROTTLE.flush()
    caplog.set_level(logging.INFO, logger="gitops_hive.throttled")
    idle = [await Peer.open(sock) for _ in range(LIMITS.connections)]
    refused = [await Peer.open(sock) for _ in range(200)]
    for peer in refused:
        await peer.answer(within=2.0)
    THROTTLE.flush()
    lines = [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]
    assert len(lines) <= 3, lines
    assert lines[0].startswith("agent test: refused a connection: 2 are open")
    assert sum(int(line.rsplit("(", 1)[1].split()[0]) for line in lines[1:]) == 199, lines
    for peer in [*idle, *refused]:
        peer.close()


async def test_stopping_while_connections_arrive_leaves_no_socket_open(short_dir: Path) -> None:
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    path = short_dir / "stop.sock"
    runner = await serve_unix_socket(app, path, LIMITS)
    peers = [await Peer.open(path) for _ in range(5)]
    await runner.cleanup()  # warnings are errors here: an unclosed socket would fail the test
    for peer in peers:
        assert await peer.closed_after(within=2.0) >= 0
        peer.close()
