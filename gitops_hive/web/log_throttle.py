"""Log lines a peer can cause at will (refusals, resets, resource errors such as EMFILE) at
most once a second per kind, with how many were held back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

INTERVAL = 1.0  # seconds: at most one line per key in each
MAX_KEYS = 1024  # past this many live keys new ones share one, so memory stays bounded
_OVERFLOW = ("log_throttle", "other keys")


class _Window:
    """One key's open second: when it opened, and the lines held back in it."""

    __slots__ = ("held", "last", "level", "opened", "timer")

    def __init__(self, opened: float) -> None:
        self.opened = opened
        self.held = 0
        self.level = logging.INFO
        self.last: Callable[[], str] = str
        self.timer: asyncio.TimerHandle | None = None


class LogThrottle:
    """The first line of a key is written at once; lines in the next `interval` are held
    back and, when it ends, said in one line: the last of them, and how many there were."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def log(
        self, key: Hashable, level: int, message: str, *args: object, exc_info: bool = False
    ) -> None:
        """Write `message % args` now, or hold it back for the end of the key's second."""
        if self.admit(key, level, lambda: message % args if args else message):
            self.logger.log(level, message, *args, exc_info=exc_info)

    def admit(self, key: Hashable, level: int, text: Callable[[], str]) -> bool:
        """True: write this line now. False: it was counted (and `text` kept) for later."""
        now = self.clock()
        if key not in self._windows and len(self._windows) >= MAX_KEYS:
            key = _OVERFLOW
        window = self._windows.get(key)
        if window is not None and now - window.opened >= self.interval:
            self._close(key)  # its timer has not run (no loop, or a busy one): close it now
            window = self._windows.get(key)
        if window is None:
            self._open(key, now)
            return True
        window.held += 1
        window.level = level
        window.last = text
        return False

    def _open(self, key: Hashable, now: float) -> None:
        window = self._windows[key] = _Window(now)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        window.timer = loop.call_later(self.interval, self._close, key)

    def _close(self, key: Hashable) -> None:
        window = self._windows.pop(key, None)
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        if window.held:
            self._summarise(window)
            self._open(key, self.clock())  # the summary is this second's line

    def _summarise(self, window: _Window) -> None:
        self.logger.log(
            window.level,
            "%s (%d like it in the last %g s)",
            window.last(),
            window.held,
            self.interval,
        )

    def flush(self) -> None:
        """Write every summary held back, now (at shutdown)."""
        windows, self._windows = self._windows, {}
        for window in windows.values():
            if window.timer is not None:
                window.timer.cancel()
            if window.held:
                self._summarise(window)


class ThrottleFilter(logging.Filter):
    """For loggers the hive does not own: each kind of line (its logger and the first line
    of its text, before arguments) passes at most once a second."""

    def __init__(self, throttle: LogThrottle) -> None:
        super().__init__()
        self.throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).partition("\n")[0][:200])

        def text() -> str:
            return f"{record.name}: {record.getMessage().partition(chr(10))[0]}"

        return self.throttle.admit(key, record.levelno, text)


def throttle_loggers(throttle: LogThrottle, *names: str) -> None:
    """Put `throttle` in front of the named loggers (once each, however often called)."""
    for name in names:
        target = logging.getLogger(name)
        for old in [f for f in target.filters if isinstance(f, ThrottleFilter)]:
            target.removeFilter(old)
        target.addFilter(ThrottleFilter(throttle))


# The one throttle of the controller: the listeners, the agents' API and the loggers of
# asyncio (accept errors: EMFILE, ENFILE) and aiohttp (malformed requests) share it.
THROTTLE = LogThrottle(logging.getLogger("gitops_hive.throttled"))
FOREIGN_LOGGERS = ("asyncio", "aiohttp.server", "aiohttp.web")
