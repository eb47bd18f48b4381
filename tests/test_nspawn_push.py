"""Push to create from inside containers: the manager pushes to its own /hive.git and a draft
appears; a worker, which has no /hive.git, is refused even through a copy of the real hook."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_hive.resources import hooks_dir
from tests.conftest import ServedHive, need_nspawn, serving
from tests.repo_factory import git
from tests.test_nspawn import base_of, log_of, nspawn_root

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]

# The agent command inside: commit an agent in /state/work and push it, as scout, to /hive.git
# (the manager's); or, as sneak, to a bare repo of its own wired like the manager's (a worker
# trying the manager's route with the hive's real hook, copied into its state).
PUSHER = r"""
set -u
if [ -d /hive.git ]; then
  target=/hive.git
else
  target=/state/fake.git
  git init -q --bare "$target"
  cp /state/pre-receive "$target/hooks/pre-receive"
  git -C "$target" config hive.pushSocket /run/hive/hive.sock
  git -C "$target" config hive.pushRoute /v1/manager/push
fi
rm -rf /state/work && mkdir /state/work && cd /state/work && git init -q -b main
printf 'description = "pushed from a container"\n' > agent.toml
printf 'You were pushed.\n' > prompt.md
git add -A && git -c user.name=in -c user.email=in@hive commit -q -m "pushed from inside"
case "$HIVE_AGENT" in manager) name=scout ;; *) name=sneak ;; esac
git push "$target" "HEAD:refs/heads/$name" > /state/push.out 2>&1
echo "push exit: $?"
sed 's/^/push said: /' /state/push.out
if [ -d /agents/worker/config ]; then
  rm -rf /state/w2 && git clone -q /agents/worker/config /state/w2 && cd /state/w2
  echo "A line pushed by the manager." >> prompt.md
  git -c user.name=in -c user.email=in@hive commit -q -am "pushed to worker"
  git push /hive.git HEAD:refs/heads/worker > /state/push2.out 2>&1
  echo "push2 exit: $?"
  sed 's/^/push2 said: /' /state/push2.out
  cd /agents/worker/config && git reset -q --hard main && echo "after" >> prompt.md \
    && git -c user.name=in -c user.email=in@hive commit -q -am "after the push" \
    && echo "committed after the push"
fi
echo probe ready
exec sleep 100000
"""


@pytest.fixture
def push_hive(tmp_path: Path) -> Iterator[ServedHive]:
    need_nspawn()
    root = nspawn_root(tmp_path / "hive", json.dumps(["/bin/sh", "-c", PUSHER]))
    with serving(root) as hive:
        yield hive


def test_the_manager_pushes_a_new_draft_from_its_container(push_hive: ServedHive) -> None:
    push_hive.deploy("manager")
    push_hive.wait_for(lambda: "probe ready" in log_of(push_hive, "manager"), timeout=30)
    said = log_of(push_hive, "manager")
    assert "push exit: 0" in said, said
    assert "push said: remote: hive: draft scout created from" in said
    assert "request_spawn_commit('scout'" in said
    agent = next(a for a in push_hive.json("agents") if a["name"] == "scout")
    assert agent["status"] == "draft"
    proposed = push_hive.proposed("scout")
    assert (proposed / "prompt.md").read_text() == "You were pushed.\n"
    # The push target is the manager's own (its uid owns it); hive.git was never touched.
    push_repo = push_hive.layout.agent("manager").push_repo
    assert push_repo.stat().st_uid == base_of(push_hive, "manager")
    assert not any((push_hive.layout.hive_git / "refs" / "heads").iterdir())


def test_a_worker_cannot_push_even_through_the_real_hook(push_hive: ServedHive) -> None:
    drafted = push_hive.cli("draft", "worker")
    assert drafted.returncode == 0, drafted.stderr
    shutil.copy(hooks_dir() / "pre-receive", push_hive.layout.agent("worker").state)
    submitted = push_hive.json("submit", "worker")
    approved = push_hive.cli("approve", str(submitted["id"]), "--sha", submitted["head"])
    assert approved.returncode == 0, approved.stderr
    push_hive.wait_for(lambda: "probe ready" in log_of(push_hive, "worker"), timeout=30)
    said = log_of(push_hive, "worker")
    assert "push exit: 1" in said, said
    assert "push said: remote: hive: refused: push is for the manager only" in said
    assert "sneak" not in [a["name"] for a in push_hive.json("agents")]
    assert not (push_hive.layout.agents_dir / "sneak").exists()


def test_the_manager_pushes_to_a_running_agent_and_commits_there_after(
    push_hive: ServedHive,
) -> None:
    push_hive.deploy("worker")
    before = git(push_hive.proposed("worker"), "rev-parse", "main")
    push_hive.deploy("manager")
    push_hive.wait_for(lambda: "probe ready" in log_of(push_hive, "manager"), timeout=30)
    said = log_of(push_hive, "manager")
    assert "push2 exit: 0" in said, said
    assert "push2 said: remote: hive: worker: proposed/ main moved" in said
    assert "reset --hard main" in said
    # The pack and main the controller wrote belong to the manager, who commits on top.
    assert "committed after the push" in said, said
    proposed = push_hive.proposed("worker")
    # (The repo is the manager's now: git on the host looks only with safe.directory.)
    subjects = git(proposed, "-c", "safe.directory=*", "log", "--format=%s", "-3", "main")
    first = git(proposed, "-c", "safe.directory=*", "log", "--format=%s", "-1", before)
    assert subjects.splitlines() == ["after the push", "pushed to worker", first]
    owner = base_of(push_hive, "manager")
    packs = list((proposed / ".git" / "objects" / "pack").iterdir())
    assert packs and all(p.stat().st_uid == owner for p in packs)
    assert (proposed / ".git" / "refs" / "heads" / "main").stat().st_uid == owner
