"""The push targets, made once and never opened again by the controller: the operator's
hive.git (by `hivectl init`) and the manager's own push.git (before its container starts),
each a bare repo with the hive's receive hooks and the socket they report to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gitops_hive import repos
from gitops_hive.layout import HiveLayout
from gitops_hive.protocol import CONTAINER_SOCKET, Route
from gitops_hive.resources import PUSH_HOOK_NAMES, hooks_dir

CONTROL_ROUTE = "/api/push"  # on the control socket: the operator's push


def make_push_repo(path: Path, socket: Path, route: str, start_advice: str) -> bool:
    """Create the push target at `path` unless something is there; whether it was made.

    An existing one is left as it is: the manager's is its own to write, so the controller
    never opens it with libgit2 or rewrites its hooks (they run only inside its container)."""
    if os.path.lexists(path):
        return False
    staging = path.with_name(f".{path.name}.new-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        repos.init_push_repo(
            staging,
            {
                "hive.pushSocket": str(socket),
                "hive.pushRoute": route,
                "hive.startAdvice": start_advice,
                "receive.advertisePushOptions": "true",
            },
        )
        for hook in PUSH_HOOK_NAMES:
            shutil.copyfile(hooks_dir() / hook, staging / "hooks" / hook)
            os.chmod(staging / "hooks" / hook, 0o755)
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def make_hive_git(layout: HiveLayout) -> bool:
    """The operator's push target, reporting over the control socket."""
    advice = f"start it with `hivectl --root {layout.root} serve` (or systemctl start gitops-hive)"
    return make_push_repo(layout.hive_git, layout.control_socket, CONTROL_ROUTE, advice)


def make_manager_push_repo(layout: HiveLayout, manager: str, in_container: bool) -> Path:
    """The manager's push target (its /hive.git in a container), reporting over its own
    socket, so the socket is its identity as everywhere else."""
    agent = layout.agent(manager)
    socket = CONTAINER_SOCKET if in_container else agent.socket
    advice = "ask the operator to start it (`hivectl serve`)"
    make_push_repo(agent.push_repo, socket, Route.PUSH.value, advice)
    return agent.push_repo
