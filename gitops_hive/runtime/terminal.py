"""A shell on a pseudo-terminal: spawn, read, write, resize, end (stdlib pty and termios)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime.children import die_with_parent
from gitops_hive.runtime.shell import ShellCommand

READ_SIZE = 16384
HANGUP_GRACE = 1.0


def set_window(fd: int, cols: int, rows: int) -> None:
    """Tell the terminal its size (the shell gets SIGWINCH)."""
    cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_terminal() -> None:
    """In the child, a session leader already: make stdin (the pty) its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    die_with_parent()


class PtyProcess:
    """A process on the slave side of a pty; the controller holds the master."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master
        self._closed = False

    @classmethod
    async def spawn(cls, command: ShellCommand, cols: int = 80, rows: int = 24) -> PtyProcess:
        """Start `command` on a new pty of cols x rows."""
        master, slave = os.openpty()
        try:
            set_window(master, cols, rows)
            os.set_blocking(master, False)
            process = await asyncio.create_subprocess_exec(
                *command.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=command.cwd,
                env=command.env,
                start_new_session=True,
                preexec_fn=_controlling_terminal,
            )
        except OSError as exc:
            os.close(master)
            raise RuntimeFailure(f"cannot start the shell {command.argv[0]!r}: {exc}") from exc
        finally:
            os.close(slave)
        return cls(process, master)

    async def _ready(self, writing: bool) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (
            (loop.add_writer, loop.remove_writer)
            if writing
            else (loop.add_reader, loop.remove_reader)
        )
        add(self.master, wake)
        try:
            await ready
        finally:
            remove(self.master)

    async def read(self) -> bytes:
        """The next output; b"" once the shell and everything on its terminal are gone."""
        while not self._closed:
            try:
                return os.read(self.master, READ_SIZE)
            except BlockingIOError:
                await self._ready(writing=False)
            except OSError:  # EIO: no process holds the slave side any more
                return b""
        return b""

    async def write(self, data: bytes) -> None:
        """Type `data`; waits while the terminal's input buffer is full."""
        view = memoryview(data)
        while view and not self._closed:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                await self._ready(writing=True)
            except OSError:
                return

    def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            set_window(self.master, cols, rows)

    async def close(self) -> None:
        """Hang up: SIGHUP to the shell's process group, SIGKILL after a grace, then SIGKILL
        to whatever else still runs in its session (background jobs, `nohup`); fd closed."""
        if self._closed:
            return
        self._closed = True
        for sig in (signal.SIGHUP, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)
            try:
                async with asyncio.timeout(HANGUP_GRACE):
                    await self.process.wait()
                break
            except TimeoutError:
                continue
        for pid in await asyncio.to_thread(session_members, self.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        os.close(self.master)


def session_members(sid: int) -> list[int]:
    """The live processes of session `sid`, zombies left out (one that left it with setsid
    is not in it)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(entry.path, "stat").read_text()
                if os.getsid(int(entry.name)) == sid and stat.rpartition(")")[2].split()[0] != "Z":
                    members.append(int(entry.name))
    return members
