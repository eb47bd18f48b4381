"""`[container] binds` in agent.toml: the paths a bind may take, each refusal one line naming
the entry, and the review's warning under a runtime that cannot mount them."""

from __future__ import annotations

import pytest

from gitops_hive.approvals.risks import bind_warnings
from gitops_hive.protocol import CONTAINER_PUSH_REPO, CONTAINER_SOCKET
from gitops_hive.runtime import nspawn
from gitops_hive.spec import MAX_BINDS, bind_problem, validate_spec
from tests.test_spec import only


def binds_spec(*binds: str) -> str:
    listed = ", ".join(f'"{b}"' for b in binds)
    return f'description = "x"\n[container]\nbinds = [{listed}]\n'


@pytest.mark.parametrize(
    ("bind", "reason"),
    [
        ("relative", "must be an absolute path"),
        ("", "must be an absolute path"),
        ("/" + "a" * 100, "at most 100 characters"),
        ("/", "must be plain"),
        ("/a/../b", "must be plain"),
        ("/a/./b", "must be plain"),
        ("/a//b", "must be plain"),
        ("/data/", "must be plain"),
        ("/data:rbind", "only letters, digits"),  # ':' would end nspawn's --bind destination
        ("/da ta", "only letters, digits"),
        ("/d\u00e4ta", "only letters, digits"),
        ("/a,b", "only letters, digits"),
    ],
)
def test_a_bind_that_is_not_a_plain_absolute_path_is_refused(bind: str, reason: str) -> None:
    spec, problems = validate_spec(binds_spec("/ok", bind))
    problem = only(problems)
    assert spec is None and problem.key == "container.binds" and problem.line == 3
    assert repr(bind) in problem.message and reason in problem.message
    assert "\n" not in problem.message


@pytest.mark.parametrize(
    "bind",
    [
        "/state",
        "/state/sub",
        "/agent",
        "/run",
        "/run/hive",
        "/opt",
        "/opt/hive",
        "/opt/hive/bin",
        "/agents",
        "/agents/worker",
        "/hive.git",
        "/proc",
        "/sys/fs",
        "/dev",
        "/usr",
        "/usr/local/share",
        "/etc",
        "/etc/ssl",
        "/var",
        "/var/lib",
        "/var/lib/tool",
        "/bin",
        "/lib64",
        "/tmp",  # noqa: S108 (a container path, not a file written here)
    ],
)
def test_a_bind_over_or_inside_what_the_controller_mounts_is_refused(bind: str) -> None:
    spec, problems = validate_spec(binds_spec(bind))
    problem = only(problems)
    assert spec is None and problem.key == "container.binds"
    assert repr(bind) in problem.message and "which the controller mounts" in problem.message


def test_every_path_the_nspawn_launcher_mounts_is_refused_as_a_bind() -> None:
    mounted = [
        nspawn.CONTAINER_STATE,
        nspawn.CONTAINER_TREE,
        nspawn.CONTAINER_SOCKET_DIR,
        str(CONTAINER_SOCKET.parent),
        nspawn.CONTAINER_TOOLS,
        CONTAINER_PUSH_REPO,
        "/agents",
        "/etc",
        *nspawn.IMAGE_MOUNTS,
        *nspawn.HOST_READ_ONLY,
        *(f"/{name}" for name in nspawn.MERGED_USR),
        *(f"/{point}" for point in nspawn.MOUNT_POINTS if point != "var/tmp"),
    ]
    assert [path for path in mounted if bind_problem(path) is None] == []


def test_a_bind_over_the_controllers_python_is_refused_at_launch_by_the_same_rule() -> None:
    problem = bind_problem("/srv/hive", ("/srv/hive/.venv",))
    assert problem is not None and "/srv/hive/.venv" in problem


def test_binds_that_overlap_or_repeat_are_refused() -> None:
    _, problems = validate_spec(binds_spec("/data", "/data/sub", "/cache", "/cache"))
    messages = [p.message for p in problems]
    assert len(messages) == 2
    assert "'/data/sub' overlaps '/data'" in messages[0]
    assert "'/cache' overlaps '/cache'" in messages[1]


def test_too_many_binds_are_refused() -> None:
    _, problems = validate_spec(binds_spec(*(f"/d{i}" for i in range(MAX_BINDS + 1))))
    assert only(problems).message == f"lists more than {MAX_BINDS} binds"


def test_good_binds_are_kept_in_order() -> None:
    spec, problems = validate_spec(binds_spec("/var/cache/tool", "/data", "/home/agent/.cache"))
    assert problems == []
    assert spec is not None and spec.binds == ("/var/cache/tool", "/data", "/home/agent/.cache")


def test_binds_warn_only_under_a_runtime_that_cannot_mount_them() -> None:
    assert bind_warnings(("/data",), "nspawn") == []
    assert bind_warnings((), "process") == []
    (warning,) = bind_warnings(("/data", "/var/cache/tool"), "process")
    assert warning.code == "binds_ignored"
    assert "/data, /var/cache/tool" in warning.message and "process runtime" in warning.message
    assert 'runtime.kind = "nspawn"' in warning.message
