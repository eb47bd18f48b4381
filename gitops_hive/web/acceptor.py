"""Connections accepted by the hive itself, not asyncio's server: one past the listener's
cap is answered and closed before it costs a transport, and one that is taken must send
its request head in time."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
from collections.abc import Callable

from gitops_hive.web.limits import ListenerLimits
from gitops_hive.web.log_throttle import THROTTLE

BACKLOG = 128
ACCEPTS_PER_TURN = 32  # then the loop runs everything else before this listener accepts more
RETRY_AFTER = 1.0  # seconds a listener rests after EMFILE, ENFILE, ENOBUFS or ENOMEM
MAX_HEAD_BYTES = 65536  # a request line and headers larger than this are not a client's
_HEAD_END = re.compile(rb"\n\r?\n")


class Acceptor(asyncio.AbstractServer):
    """Accepts on listening sockets and counts what it let in against `limits.connections`;
    each connection it takes is a `GuardedConnection` around a protocol from `protocol`."""

    def __init__(
        self,
        limits: ListenerLimits,
        protocol: Callable[[], asyncio.Protocol],
        sockets: list[socket.socket],
    ) -> None:
        self.limits = limits
        self.protocol = protocol
        self.open_connections = 0
        self._sockets = sockets
        self._refusal = limits.over_cap()
        self._loop = asyncio.get_running_loop()
        self._serving = False
        # Accepted sockets whose task, which makes them a transport, has not run yet.
        self._pending: dict[socket.socket, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Listen and accept."""
        for sock in self._sockets:
            sock.setblocking(False)
            sock.listen(BACKLOG)
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        self._serving = True

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._rest(sock, exc)
                return
            if self.open_connections >= self.limits.connections:
                self._refuse(conn)
                continue
            self.open_connections += 1
            self._pending[conn] = self._loop.create_task(self._connect(conn))

    def _refuse(self, conn: socket.socket) -> None:
        """Answer and close at once, so the backlog never fills and nothing is held."""
        THROTTLE.log(
            ("over cap", self.limits.name),
            logging.WARNING,
            "%s: refused a connection: %d are open, as many as %s allows",
            self.limits.name,
            self.limits.connections,
            self.limits.connections_setting,
        )
        with contextlib.suppress(OSError):  # gone already, or not reading: closed all the same
            conn.send(self._refusal, socket.MSG_DONTWAIT)
        conn.close()

    def _rest(self, sock: socket.socket, exc: OSError) -> None:
        if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            THROTTLE.log(("accept", exc.errno), logging.WARNING, "accept failed: %s", exc.strerror)
            return
        THROTTLE.log(
            ("accept", exc.errno),
            logging.ERROR,
            "%s: cannot accept (%s); trying again in %g s",
            self.limits.name,
            exc.strerror,
            RETRY_AFTER,
        )
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(RETRY_AFTER, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if self._serving:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def _connect(self, conn: socket.socket) -> None:
        del self._pending[conn]  # from here on the socket is asyncio's, or closed below
        guarded = GuardedConnection(self)
        try:
            await self._loop.connect_accepted_socket(lambda: guarded, sock=conn)
        except (OSError, RuntimeError):
            guarded.release()
            conn.close()

    def close(self) -> None:
        """Stop accepting; connections already taken are aiohttp's to end."""
        if not self._serving:
            return
        self._serving = False
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        for conn, task in self._pending.items():  # tasks that have not run: nobody's socket
            task.cancel()
            conn.close()
        self._pending.clear()

    async def wait_closed(self) -> None:
        return None

    async def start_serving(self) -> None:
        return None  # it serves from start()

    async def serve_forever(self) -> None:
        raise NotImplementedError("the controller runs its own loop")

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)


class GuardedConnection(asyncio.Protocol):
    """One connection the acceptor took: its first request head under a deadline, all else
    handed to aiohttp's own protocol; its slot is given back when it ends."""

    __slots__ = (
        "_acceptor",
        "_head_bytes",
        "_inner",
        "_released",
        "_started",
        "_tail",
        "_timer",
        "transport",
    )

    def __init__(self, acceptor: Acceptor) -> None:
        self._acceptor = acceptor
        self._released = False
        self.transport: asyncio.BaseTransport | None = None
        self._inner: asyncio.Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._started = False
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        limits = self._acceptor.limits
        self.transport = transport
        self._inner = self._acceptor.protocol()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(limits.head_timeout, self._head_overdue)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is not None and not self._watch_head(data):
            return
        self._inner.data_received(data)

    def _watch_head(self, data: bytes) -> bool:
        """Disarm the head deadline once the head ended; False if the head is too big.
        Later heads on the same connection are aiohttp's (its keep-alive timeout)."""
        if not self._started:
            data = data.lstrip(b"\r\n")  # empty lines before a request line are allowed
            self._started = bool(data)
        seen = self._tail + data
        if self._started and _HEAD_END.search(seen):
            self._disarm()
            return True
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._cut("big head", f"sent a request head over {MAX_HEAD_BYTES} bytes")
            return False
        self._tail = seen[-2:]
        return True

    def _head_overdue(self) -> None:
        self._timer = None
        self._cut(
            "slow head",
            f"sent no whole request head within {self._acceptor.limits.head_timeout:g} s "
            "(limits.request_head_timeout)",
        )

    def _cut(self, kind: str, why: str) -> None:
        self._disarm()
        name = self._acceptor.limits.name
        THROTTLE.log((kind, name), logging.WARNING, "%s: cut off a peer that %s", name, why)
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def release(self) -> None:
        """Give the connection's slot back (once)."""
        if not self._released:
            self._released = True
            self._acceptor.open_connections -= 1

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.release()
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)
