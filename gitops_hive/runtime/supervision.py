"""Restart supervision, shared by every runtime: backoff, crash window, crash limit, reports.

Pure bookkeeping on a clock: the runtimes do the waiting and the restarting, a `Supervisor`
says how long to wait, when to give up, and what to tell the controller.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gitops_hive.runtime.base import AgentState, CrashReport

STABLE_AFTER = 60.0  # a run longer than this starts the backoff afresh
CRASH_LOG_LINES = 50  # log lines a crash report carries


@dataclass(frozen=True)
class RestartPolicy:
    """How a crashed agent is restarted: doubling backoff up to a cap, a limit per window."""

    backoff: float
    backoff_max: float
    crash_limit: int = 5
    crash_window: float = 300.0


class Supervisor:
    """One agent's run state and crash accounting since its commit was applied."""

    def __init__(self, policy: RestartPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.state = AgentState.ABSENT
        self.restarts = 0
        self.backoff = 0.0
        self.crashes: deque[float] = deque()  # times of the crashes within the window
        self.applied_at = 0.0
        self.crashes_since_apply = 0

    def applied(self) -> None:
        """A new commit runs: every count starts afresh."""
        self.state, self.restarts, self.backoff = AgentState.RUNNING, 0, 0.0
        self.applied_at, self.crashes_since_apply = self.clock(), 0
        self.crashes.clear()

    def crashed(
        self,
        agent: str,
        sha: str,
        returncode: int,
        log_tail: list[str],
        started_at: float | None = None,
    ) -> CrashReport:
        """Count a crash; the report's `restart_in` is the backoff, or None to stay down.

        `started_at` (on the supervisor's clock) is when the run that crashed began: a run
        longer than STABLE_AFTER resets the backoff. None: not known, no reset.
        """
        now = self.clock()
        if started_at is not None and now - started_at > STABLE_AFTER:
            self.backoff = 0.0
        self.backoff = min(
            self.policy.backoff_max, self.backoff * 2 if self.backoff else self.policy.backoff
        )
        self.state = AgentState.CRASHED
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.policy.crash_window:
            self.crashes.popleft()
        self.crashes_since_apply += 1
        gave_up = len(self.crashes) >= self.policy.crash_limit
        return CrashReport(
            agent,
            sha,
            returncode,
            log_tail,
            None if gave_up else self.backoff,
            crashes_recent=len(self.crashes),
            crashes_since_apply=self.crashes_since_apply,
            since_apply=now - self.applied_at,
        )

    def restarted(self) -> None:
        """The agent runs again after a crash."""
        self.state, self.restarts = AgentState.RUNNING, self.restarts + 1

    def restart_failed(self) -> None:
        """The restart after a crash did not start: it stays down until the next apply."""
        self.state = AgentState.CRASHED

    def stopped(self) -> None:
        """Stopped on purpose."""
        self.state = AgentState.STOPPED
