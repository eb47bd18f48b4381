"""systemd over D-Bus with jeepney: agents as transient units, and their failures.

With systemd as PID 1 the controller asks it, on the system bus, to run each agent as
`hive-agent-NAME.service` (StartTransientUnit), so systemd supervises and journals it,
and hears of a failure from the unit's PropertiesChanged signal (ActiveState=failed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, HeaderFields, MatchRule, MessageType, message_bus, new_method_call
from jeepney.io.asyncio import DBusRouter, open_dbus_router

from gitops_hive.errors import SystemdError
from gitops_hive.names import validate_name

SYSTEMD = DBusAddress(
    "/org/freedesktop/systemd1",
    bus_name="org.freedesktop.systemd1",
    interface="org.freedesktop.systemd1.Manager",
)
PROPERTIES = "org.freedesktop.DBus.Properties"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
CALL_TIMEOUT = 30.0


def unit_name(agent: str) -> str:
    """hive-agent-NAME.service, from a validated name."""
    return f"hive-agent-{validate_name(agent)}.service"


def unit_object_path(name: str) -> str:
    """systemd's object path for a unit name (bytes outside [A-Za-z0-9] become _xx)."""
    escaped = "".join(
        c if c.isascii() and c.isalnum() else "".join(f"_{b:02x}" for b in c.encode()) for c in name
    )
    return f"/org/freedesktop/systemd1/unit/{escaped}"


@dataclass(frozen=True)
class UnitState:
    """What systemd says of a unit: active state, sub-state, result and exit status."""

    active: str
    sub: str
    result: str
    exit_status: int


class SystemdBus:
    """Calls on systemd's Manager and units over one bus connection."""

    def __init__(self, router: DBusRouter) -> None:
        self.router = router
        self._subscribed = False

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, bus: str = "SYSTEM") -> AsyncIterator[SystemdBus]:
        """`bus`: "SYSTEM", or an address such as unix:path=/run/dbus/system_bus_socket."""
        try:
            async with open_dbus_router(bus) as router:
                yield cls(router)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise SystemdError(f"cannot reach the system bus at {bus}: {exc}") from None

    async def call(
        self, address: DBusAddress, method: str, signature: str = "", body: tuple[Any, ...] = ()
    ) -> tuple[Any, ...]:
        """One method call; a D-Bus error becomes SystemdError."""
        message = new_method_call(address, method, signature, body)
        async with asyncio.timeout(CALL_TIMEOUT):
            reply = await self.router.send_and_get_reply(message)
        if reply.header.message_type is MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "error")
            text = reply.body[0] if reply.body else ""
            raise SystemdError(f"systemd {method}: {name}: {text}")
        return tuple(reply.body)

    async def start_transient(
        self,
        name: str,
        argv: list[str],
        *,
        description: str,
        environment: dict[str, str] | None = None,
        output_file: str | None = None,
    ) -> str:
        """Start `argv` as the transient service `name`; return systemd's job path."""
        properties: list[tuple[str, tuple[str, Any]]] = [
            ("Description", ("s", description)),
            ("ExecStart", ("a(sasb)", [(argv[0], argv, False)])),
            ("Environment", ("as", [f"{k}={v}" for k, v in (environment or {}).items()])),
            ("KillMode", ("s", "mixed")),
        ]
        if output_file is not None:
            properties += [
                ("StandardOutputFileToAppend", ("s", output_file)),
                ("StandardErrorFileToAppend", ("s", output_file)),
            ]
        # A failed unit stays loaded (so its result can be read); clear it to reuse the name.
        with contextlib.suppress(SystemdError):
            await self.call(SYSTEMD, "ResetFailedUnit", "s", (name,))
        (job,) = await self.call(
            SYSTEMD, "StartTransientUnit", "ssa(sv)a(sa(sv))", (name, "replace", properties, [])
        )
        return str(job)

    async def _subscribe(self) -> None:
        if not self._subscribed:
            await self.call(SYSTEMD, "Subscribe")
            self._subscribed = True

    async def stop(self, name: str) -> None:
        """Stop the unit and wait until systemd has unloaded it (its name is free again)."""
        await self._subscribe()
        rule = MatchRule(
            type="signal",
            interface=SYSTEMD.interface,
            member="UnitRemoved",
            path=SYSTEMD.object_path,
        )
        rule.add_arg_condition(0, name)
        await self.call(message_bus, "AddMatch", "s", (rule.serialise(),))
        queue: asyncio.Queue[Any] = asyncio.Queue(8)
        with self.router.filter(rule, queue=queue):
            try:
                await self.call(SYSTEMD, "StopUnit", "ss", (name, "replace"))
            except SystemdError as exc:
                if "NoSuchUnit" in exc.message:
                    return
                raise
            with contextlib.suppress(SystemdError):  # a failed unit stays loaded until reset
                await self.call(SYSTEMD, "ResetFailedUnit", "s", (name,))
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await queue.get()
            except TimeoutError:
                raise SystemdError(f"{name} was not unloaded within {CALL_TIMEOUT:g}s") from None

    async def unit_path(self, name: str) -> str:
        """The object path of a loaded unit."""
        (path,) = await self.call(SYSTEMD, "GetUnit", "s", (name,))
        return str(path)

    async def main_pid(self, name: str) -> int | None:
        """The pid systemd started for the loaded service `name` (its MainPID), or None."""
        pid = int(await self._get(await self.unit_path(name), SERVICE, "MainPID"))
        return pid or None

    async def _get(self, path: str, interface: str, prop: str) -> Any:
        target = DBusAddress(path, bus_name=SYSTEMD.bus_name, interface=PROPERTIES)
        ((_, value),) = await self.call(target, "Get", "ss", (interface, prop))
        return value

    async def state(self, name: str) -> UnitState:
        return await self.state_at(await self.unit_path(name))

    async def state_at(self, path: str) -> UnitState:
        """The state of the unit at object `path`."""
        return UnitState(
            active=str(await self._get(path, UNIT, "ActiveState")),
            sub=str(await self._get(path, UNIT, "SubState")),
            result=str(await self._get(path, SERVICE, "Result")),
            exit_status=int(await self._get(path, SERVICE, "ExecMainStatus")),
        )

    @contextlib.asynccontextmanager
    async def changes(self, path: str) -> AsyncIterator[asyncio.Queue[Any]]:
        """PropertiesChanged signals of the unit at object `path`, queued as they come."""
        if not self._subscribed:
            await self.call(SYSTEMD, "Subscribe")
            self._subscribed = True
        rule = MatchRule(type="signal", interface=PROPERTIES, member="PropertiesChanged", path=path)
        await self.call(message_bus, "AddMatch", "s", (rule.serialise(),))
        queue: asyncio.Queue[Any] = asyncio.Queue(256)
        with self.router.filter(rule, queue=queue):
            yield queue


async def watch_failures(
    bus: SystemdBus,
    name: str,
    on_failure: Callable[[UnitState], Awaitable[None]],
    ready: asyncio.Event | None = None,
) -> None:
    """Call `on_failure` each time unit `name` enters ActiveState=failed, until cancelled.

    It listens from before the unit exists (the path is known from the name), so a start
    that fails at once is not missed; `ready` is set once it listens.
    """
    path = unit_object_path(name)
    async with bus.changes(path) as queue:
        if ready is not None:
            ready.set()
        while True:
            message = await queue.get()
            interface, changed, _ = message.body
            if interface != UNIT:
                continue
            active = changed.get("ActiveState")
            if active is not None and active[1] == "failed":
                try:
                    state = await bus.state_at(path)
                except SystemdError:  # unloaded already: what the signal said is enough
                    state = UnitState("failed", "failed", "unknown", -1)
                await on_failure(state)
