"""Live terminal sessions: opened with a ticket, guarded, timed out, ended, recorded as events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from gitops_hive.agents import require_agent
from gitops_hive.context import HiveContext
from gitops_hive.durations import format_duration
from gitops_hive.runtime.shell import ShellCommand, shell_for
from gitops_hive.runtime.terminal import PtyProcess
from gitops_hive.store import queries
from gitops_hive.terminals.guards import OutputFilter, RateCap
from gitops_hive.terminals.tickets import Ticket, TicketBook

log = logging.getLogger(__name__)
EVENT_OPENED = "terminal_opened"
EVENT_SESSION = "terminal_session"


@dataclass(eq=False)  # compared and hashed by identity: sessions live in a set
class TerminalSession:
    """One operator's shell into one agent: what it typed and read, and why it ended."""

    agent: str
    who: str
    login: str | None
    command: ShellCommand
    pty: PtyProcess
    idle_timeout: float
    cap: RateCap
    book: TerminalBook
    started: float = field(default_factory=time.time)
    bytes_in: int = 0
    bytes_out: int = 0
    ended: str | None = None
    _last_input: float = field(default_factory=time.monotonic)
    _filter: OutputFilter = field(default_factory=OutputFilter)
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _idle_task: asyncio.Task[None] | None = None
    _closing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._idle_task = asyncio.create_task(self._watch_idle())

    async def _watch_idle(self) -> None:
        while self.ended is None:
            left = self.idle_timeout - (time.monotonic() - self._last_input)
            if left <= 0:
                await self.end(f"idle for {format_duration(self.idle_timeout)}")
                return
            await asyncio.sleep(left)

    async def output(self) -> bytes | None:
        """The next guarded output for the operator; None once the session ended."""
        while self.ended is None:
            reading = asyncio.ensure_future(self.pty.read())
            ending = asyncio.ensure_future(self._done.wait())
            await asyncio.wait({reading, ending}, return_when=asyncio.FIRST_COMPLETED)
            ending.cancel()
            if not reading.done():
                reading.cancel()
                return None
            data = reading.result()
            if not data:
                await self.end("the shell exited")
                return None
            self.bytes_out += len(data)
            delay = self.cap.take(len(data), time.monotonic())
            if delay > 0:  # over the cap: stop reading, the command blocks on its output
                await asyncio.sleep(delay)
            shown = self._filter.feed(data)
            if shown:
                return shown
        return None

    async def input(self, data: bytes) -> None:
        """Keys the operator typed (or pasted)."""
        if self.ended is not None:
            return
        self._last_input = time.monotonic()
        self.bytes_in += len(data)
        await self.pty.write(data)

    def resize(self, cols: int, rows: int) -> None:
        self._last_input = time.monotonic()
        self.pty.resize(cols, rows)

    async def end(self, reason: str) -> None:
        """Hang up the shell and record the session (once; a cancelled caller cannot stop it)."""
        if self._closing is None:
            self.ended = reason
            self._done.set()
            if self._idle_task is not None and self._idle_task is not asyncio.current_task():
                self._idle_task.cancel()
            self._closing = asyncio.create_task(self._hang_up())
        await asyncio.shield(self._closing)

    async def _hang_up(self) -> None:
        await self.pty.close()
        await self.book.closed(self)

    def to_event(self) -> dict[str, object]:
        return {
            "who": self.who,
            "started": self.started,
            "ended": time.time(),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "reason": self.ended,
            "isolated": self.command.isolated,
        }


class TerminalBook:
    """Tickets and live sessions of the hive's terminals."""

    def __init__(self, ctx: HiveContext) -> None:
        self.ctx = ctx
        self.tickets = TicketBook()
        self.live: set[TerminalSession] = set()

    @property
    def isolated(self) -> bool:
        """Whether a terminal is inside a container (nspawn) or a plain shell (process)."""
        return self.ctx.runtime.private_users

    async def _shell(self, name: str) -> ShellCommand:
        return await shell_for(
            self.ctx.runtime,
            name,
            self.ctx.layout.agent(name).state,
            list(self.ctx.config["terminal.shell"]),
        )

    async def ticket(self, raw_name: str, who: str, login: str | None) -> dict[str, object]:
        """A one-time ticket (30 s) for the running agent's terminal, and what it will be."""
        name = await require_agent(self.ctx, raw_name)
        command = await self._shell(name)  # refuses now if the agent does not run
        token = self.tickets.issue(name, who, login)
        return {
            "ticket": token,
            "expires_in": self.tickets.ttl,
            "isolated": command.isolated,
            "where": command.where,
        }

    async def open(
        self, raw_name: str, token: str, login: str | None, cols: int, rows: int
    ) -> TerminalSession:
        """Spend the ticket: a shell into the agent on a new pty."""
        name = await require_agent(self.ctx, raw_name)
        ticket: Ticket = self.tickets.take(token, name, login)
        command = await self._shell(name)
        pty = await PtyProcess.spawn(command, cols, rows)
        config = self.ctx.config
        session = TerminalSession(
            agent=name,
            who=ticket.who,
            login=login,
            command=command,
            pty=pty,
            idle_timeout=float(config["terminal.idle_timeout"]),
            cap=RateCap(float(config["terminal.output_rate"])),
            book=self,
        )
        self.live.add(session)
        session.start()
        async with self.ctx.db.write() as conn:
            await queries.insert_event(
                conn, EVENT_OPENED, name, {"who": ticket.who, "isolated": command.isolated}
            )
        log.info("agent %s: terminal opened by %s", name, ticket.who)
        return session

    async def closed(self, session: TerminalSession) -> None:
        """Record an ended session: who, agent, start, end, bytes in and out, why."""
        self.live.discard(session)
        with contextlib.suppress(Exception):  # a closing db must not hide the hang-up
            async with self.ctx.db.write() as conn:
                await queries.insert_event(conn, EVENT_SESSION, session.agent, session.to_event())
        log.info("agent %s: terminal of %s ended: %s", session.agent, session.who, session.ended)

    async def end(self, reason: str, *, agent: str | None = None, login: str | None = None) -> int:
        """End the live sessions into `agent`, or of `login`, or all; how many ended."""
        chosen = [
            s
            for s in list(self.live)
            if (agent is None or s.agent == agent) and (login is None or s.login == login)
        ]
        for session in chosen:
            await session.end(reason)
        return len(chosen)
