"""The shared restart supervision, on a fake clock: no process, no bus."""

from __future__ import annotations

from gitops_hive.runtime.base import AgentState
from gitops_hive.runtime.supervision import STABLE_AFTER, RestartPolicy, Supervisor


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervised(
    backoff_max: float = 10.0, crash_limit: int = 5, crash_window: float = 300.0
) -> tuple[Supervisor, Clock]:
    """A supervisor just applied, with a 1 s initial backoff, on a clock of its own."""
    clock = Clock()
    policy = RestartPolicy(1.0, backoff_max, crash_limit, crash_window)
    supervisor = Supervisor(policy, clock)
    supervisor.applied()
    return supervisor, clock


def crash(supervisor: Supervisor, clock: Clock, after: float = 1.0) -> float | None:
    """Run `after` seconds, crash, and come back after the backoff; the restart delay."""
    started = clock.now
    clock.now += after
    report = supervisor.crashed("worker", "a" * 40, 3, ["boom"], started_at=started)
    if report.restart_in is not None:
        clock.now += report.restart_in
        supervisor.restarted()
    return report.restart_in


def test_the_backoff_doubles_up_to_its_cap() -> None:
    supervisor, clock = supervised(crash_limit=100, crash_window=1.0)
    delays = [crash(supervisor, clock) for _ in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert supervisor.restarts == 7 and supervisor.state is AgentState.RUNNING


def test_the_report_says_what_crashed_and_counts_since_apply() -> None:
    supervisor, clock = supervised()
    clock.now += 5.0
    first = supervisor.crashed("worker", "a" * 40, -9, ["one", "two"])
    assert (first.agent, first.sha, first.returncode, first.log_tail) == (
        "worker",
        "a" * 40,
        -9,
        ["one", "two"],
    )
    assert (first.restart_in, first.crashes_recent, first.crashes_since_apply) == (1.0, 1, 1)
    assert first.since_apply == 5.0
    assert supervisor.state is AgentState.CRASHED
    supervisor.restarted()
    clock.now += 2.0
    second = supervisor.crashed("worker", "a" * 40, 1, [])
    assert (second.crashes_since_apply, second.since_apply) == (2, 7.0)


def test_the_crash_limit_within_the_window_gives_up() -> None:
    supervisor, clock = supervised(crash_limit=3, crash_window=300.0)
    assert crash(supervisor, clock) == 1.0
    assert crash(supervisor, clock) == 2.0
    clock.now += 1.0
    report = supervisor.crashed("worker", "a" * 40, 3, [])
    assert report.restart_in is None  # it stays down
    assert (report.crashes_recent, report.crashes_since_apply) == (3, 3)
    assert supervisor.state is AgentState.CRASHED


def test_crashes_older_than_the_window_do_not_count_towards_the_limit() -> None:
    supervisor, clock = supervised(crash_limit=3, crash_window=10.0, backoff_max=1.0)
    for _ in range(10):  # one crash every 6 s: never three within 10 s
        assert crash(supervisor, clock, after=5.0) == 1.0
    clock.now += 5.0
    report = supervisor.crashed("worker", "a" * 40, 3, [])
    assert report.crashes_recent == 2 and report.crashes_since_apply == 11
    assert report.restart_in == 1.0


def test_a_stable_run_starts_the_backoff_afresh() -> None:
    supervisor, clock = supervised(crash_limit=100)
    assert [crash(supervisor, clock) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert crash(supervisor, clock, after=STABLE_AFTER + 1) == 1.0
    assert crash(supervisor, clock, after=STABLE_AFTER) == 2.0  # not longer than STABLE_AFTER


def test_an_unknown_run_length_keeps_the_backoff() -> None:
    supervisor, clock = supervised(crash_limit=100)
    supervisor.crashed("worker", "a" * 40, 3, [])
    clock.now += STABLE_AFTER * 10
    assert supervisor.crashed("worker", "a" * 40, 3, []).restart_in == 2.0


def test_an_apply_resets_every_count() -> None:
    supervisor, clock = supervised(crash_limit=2)
    crash(supervisor, clock)
    assert crash(supervisor, clock) is None
    clock.now += 50.0
    supervisor.applied()
    assert (supervisor.state, supervisor.restarts) == (AgentState.RUNNING, 0)
    clock.now += 1.0
    report = supervisor.crashed("worker", "b" * 40, 3, [])
    assert (report.restart_in, report.crashes_recent, report.crashes_since_apply) == (1.0, 1, 1)
    assert report.since_apply == 1.0


def test_states_follow_the_agents_life() -> None:
    supervisor = Supervisor(RestartPolicy(backoff=1.0, backoff_max=2.0))
    seen = [supervisor.state]
    for step in (
        supervisor.applied,
        lambda: supervisor.crashed("worker", "a" * 40, 1, []),
        supervisor.restarted,
        supervisor.restart_failed,
        supervisor.stopped,
    ):
        step()
        seen.append(supervisor.state)
    assert seen == [
        AgentState.ABSENT,
        AgentState.RUNNING,
        AgentState.CRASHED,
        AgentState.RUNNING,
        AgentState.CRASHED,
        AgentState.STOPPED,
    ]
