"""The runtime registry, the typed status, the uid pool and systemd's error code."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_hive.config import default_config
from gitops_hive.errors import ERRORS_BY_CODE, ConfigError, HiveError, SystemdError
from gitops_hive.runtime import registry
from gitops_hive.runtime.base import AgentState, CrashReport, RuntimeStatus
from gitops_hive.runtime.children import ChildRuntime
from gitops_hive.runtime.nspawn import ContainerLauncher
from gitops_hive.runtime.process import CommandLauncher
from gitops_hive.runtime.supervision import RestartPolicy
from gitops_hive.runtime.uidpool import free_base
from gitops_hive.runtime.units import UnitRuntime
from gitops_hive.settings import RUNTIME_KINDS, UID_RANGE


async def ignore(report: CrashReport) -> None:
    pass


def test_the_registry_names_every_kind_the_config_accepts() -> None:
    assert set(registry.RUNTIMES) == set(RUNTIME_KINDS)


def test_the_process_runtime_runs_the_command_with_the_configured_supervision() -> None:
    config = default_config().with_values(
        {
            "runtime.kind": "process",
            "runtime.start_grace": 0.7,
            "runtime.restart_backoff": 0.5,
            "runtime.restart_backoff_max": 9.0,
            "runtime.crash_limit": 4,
            "runtime.crash_window": 60.0,
        }
    )
    runtime = registry.make_runtime(config, ignore)
    assert isinstance(runtime, ChildRuntime)
    assert isinstance(runtime.launcher, CommandLauncher)
    assert runtime.launcher.command == config.runtime_command
    assert runtime.policy == RestartPolicy(0.5, 9.0, 4, 60.0)
    assert runtime.start_grace == 0.7 and not runtime.private_users


@pytest.mark.parametrize(
    ("supervisor", "booted", "expected"),
    [
        ("controller", True, ChildRuntime),
        ("systemd", False, UnitRuntime),
        ("auto", False, ChildRuntime),
        ("auto", True, UnitRuntime),
    ],
)
def test_the_nspawn_runtime_is_supervised_as_configured(
    supervisor: str,
    booted: bool,
    expected: type,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    systemd = tmp_path / "systemd"
    if booted:
        systemd.mkdir()
    monkeypatch.setattr(registry, "SYSTEMD_BOOTED", systemd)
    config = default_config().with_values(
        {"runtime.kind": "nspawn", "nspawn.supervisor": supervisor}
    )
    runtime = registry.make_runtime(config, ignore)
    assert isinstance(runtime, expected)
    assert isinstance(runtime.launcher, ContainerLauncher)  # type: ignore[attr-defined]
    assert runtime.private_users


def test_an_unknown_kind_is_one_line() -> None:
    config = default_config().with_values({"runtime.kind": "nixos-container"})
    with pytest.raises(HiveError, match="runtime 'nixos-container' is not available"):
        registry.make_runtime(config, ignore)


def test_a_status_gives_the_agents_api_its_runtime_object() -> None:
    assert RuntimeStatus(AgentState.ABSENT).to_json() == {
        "state": "absent",
        "sha": None,
        "pid": None,
        "restarts": 0,
    }
    running = RuntimeStatus(AgentState.RUNNING, "a" * 40, 123, 2)
    assert running.to_json() == {"state": "running", "sha": "a" * 40, "pid": 123, "restarts": 2}


def test_the_uid_pool_hands_out_the_first_free_range() -> None:
    start = 16 * UID_RANGE
    assert free_base({}, start, 3) == start
    assert free_base({start, start + 2 * UID_RANGE}, start, 3) == start + UID_RANGE
    with pytest.raises(ConfigError, match="the uid pool is full") as full:
        free_base({start, start + UID_RANGE}, start, 2)
    assert full.value.message == (
        f"the uid pool is full (2 ranges from {start}): raise nspawn.uid_pool_size in hive.toml"
    )


def test_systemds_refusals_carry_their_own_code() -> None:
    assert ERRORS_BY_CODE["systemd"] is SystemdError
    assert (SystemdError.status, issubclass(SystemdError, HiveError)) == (500, True)
