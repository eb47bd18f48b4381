"""hivectl shell: the agent page's terminal, in this terminal, over the control socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import tty
from pathlib import Path

import aiohttp
import click

from gitops_hive.cli.common import client_of, echo, layout_of


def _size() -> tuple[int, int]:
    size = shutil.get_terminal_size((80, 24))
    return size.columns, size.lines


async def _attach(socket_path: Path, path: str) -> str | None:
    """Copy stdin to the session and the session to stdout; the reason it ended."""
    loop = asyncio.get_running_loop()
    ended: str | None = None
    connector = aiohttp.UnixConnector(path=str(socket_path))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.ws_connect(f"http://hive{path}", max_msg_size=1 << 20) as ws,
    ):
        outgoing: asyncio.Queue[bytes | str] = asyncio.Queue()  # in order: keys, resizes

        def typed() -> None:
            data = os.read(0, 4096)
            if data:
                outgoing.put_nowait(data)
            else:  # end of input: the shell ends when it reads `exit`, or never
                loop.remove_reader(0)

        def resized() -> None:
            cols, rows = _size()
            outgoing.put_nowait(json.dumps({"resize": [cols, rows]}))

        async def send() -> None:
            while True:
                item = await outgoing.get()
                await (ws.send_bytes(item) if isinstance(item, bytes) else ws.send_str(item))

        loop.add_reader(0, typed)
        loop.add_signal_handler(signal.SIGWINCH, resized)
        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    sys.stdout.buffer.write(message.data)
                    sys.stdout.buffer.flush()
                elif message.type is aiohttp.WSMsgType.TEXT:
                    ended = json.loads(message.data).get("ended") or ended
        finally:
            sender.cancel()
            with contextlib.suppress(ValueError):
                loop.remove_reader(0)
            loop.remove_signal_handler(signal.SIGWINCH)
    return ended


@click.command("shell")
@click.argument("name")
@click.pass_context
def shell(ctx: click.Context, name: str) -> None:
    """Open a terminal into a running agent (nspawn: inside its container; process: its
    state folder, not isolated). The session ends when the shell exits."""
    client = client_of(ctx)
    ticket = client.terminal_ticket(name)
    if not ticket.get("isolated"):
        echo(f"note: {ticket.get('where')}", err=True)
    cols, rows = _size()
    path = client.terminal_path(name, str(ticket["ticket"]), cols, rows)
    saved = termios.tcgetattr(0) if os.isatty(0) else None
    try:
        if saved is not None:
            tty.setraw(0, termios.TCSANOW)  # keys typed ahead are kept, not flushed
        ended = asyncio.run(_attach(layout_of(ctx).control_socket, path))
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
    echo(f"\n[session ended: {ended or 'connection closed'}]", err=True)
