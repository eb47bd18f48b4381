"""Real systemd-nspawn containers: the uid map, what the agent sees, state, crashes."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_hive.settings import UID_RANGE
from tests.conftest import IMAGE_CACHE, ServedHive, make_root, need_nspawn, serving
from tests.repo_factory import commit_step, git

pytestmark = [pytest.mark.e2e, pytest.mark.nspawn]

# The agent command inside: report what the container sees, then stay up.
PROBE = r"""
echo "uid_map: $(cat /proc/self/uid_map | tr -s ' ')"
echo "whoami: $(id -u)"
for path in HIVEDB OTHERSTATE /root/.ssh /home /etc/shadow; do
  if [ -e "$path" ]; then echo "visible: $path"; else echo "hidden: $path"; fi
done
echo "tree: $(cat /agent/prompt.md | head -1)"
echo written > /state/written-inside
mkdir -p /state/sub && echo nested > /state/sub/file
echo "socket: $(test -S /run/hive/hive.sock && echo yes)"
if [ -d /agents ]; then
  echo "agents: $(ls /agents | tr '\n' ' ')"
  for a in /agents/*; do
    git -C "$a/config" -c user.name=manager -c user.email=manager@hive commit -q \
      --allow-empty -m "manager was here" && echo "committed: $a"
    touch "$a/state/x" 2>/dev/null && echo "state writable: $a" || echo "state read-only: $a"
  done
else
  echo "agents: none"
fi
echo probe ready
exec sleep 100000
"""


def probe_command(root: Path) -> str:
    script = PROBE.replace("HIVEDB", str(root / "hive.db")).replace(
        "OTHERSTATE", str(root / "agents" / "other" / "state")
    )
    return json.dumps(["/bin/sh", "-c", script])


def nspawn_root(root: Path, command: str) -> Path:
    """A hive root on the nspawn runtime whose agents run `command` (a JSON list)."""
    make_root(root)
    config = root / "hive.toml"
    text = config.read_text()
    start = text.index("command = [")
    end = text.index("]", start) + 1
    text = text[:start] + f"command = {command}" + text[end:]
    text = text.replace('kind = "process"', 'kind = "nspawn"')
    text = text.replace("start_grace = 0.3", "start_grace = 1.5")
    # A pool and a network range of its own, so hives tested side by side never share a uid
    # range or an address.
    pool = UID_RANGE * random.randrange(64, 30_000)
    text = text.replace("uid_pool_start = 1048576", f"uid_pool_start = {pool}")
    text = text.replace("uid_pool_size = 256", "uid_pool_size = 8")
    network = f"10.{random.randrange(214, 250)}.{random.randrange(256)}.0/24"
    text = text.replace('network_range = "10.213.0.0/21"', f'network_range = "{network}"')
    config.write_text(text)
    return root


@contextlib.contextmanager
def probe_hive(tmp_path: Path, script: str) -> Iterator[ServedHive]:
    """A served nspawn hive whose agents run the shell `script`."""
    need_nspawn()
    root = tmp_path / "hive"
    with serving(nspawn_root(root, json.dumps(["/bin/sh", "-c", script]))) as hive:
        yield hive


def propose_container(hive: ServedHive, key: str, values: list[str], note: str) -> dict[str, Any]:
    """Commit worker's agent.toml with `[container] key = values` (and a prompt change) to its
    proposed/; return the approval once pinned."""
    work = hive.proposed("worker")
    spec = work / "agent.toml"
    lines = [x for x in spec.read_text().splitlines() if not x.startswith(f"{key} =")]
    at = lines.index("[container]") + 1
    listed = ", ".join(f'"{value}"' for value in values)
    spec.write_text("\n".join([*lines[:at], f"{key} = [{listed}]", *lines[at:]]) + "\n")
    with (work / "prompt.md").open("a") as prompt:
        prompt.write(f"\n{note}\n")
    git(work, "commit", "-qam", note)
    head = git(work, "rev-parse", "HEAD")
    return hive.wait_for(
        lambda: (p := hive.pending_for("worker")) and p["head"] == head and p, what="pinned"
    )


@pytest.fixture
def nspawn_hive(tmp_path: Path) -> Iterator[ServedHive]:
    need_nspawn()
    root = tmp_path / "hive"
    with serving(nspawn_root(root, probe_command(root))) as hive:
        yield hive


def log_of(hive: ServedHive, agent: str) -> str:
    return hive.layout.agent(agent).log.read_text()


def base_of(hive: ServedHive, agent: str) -> int:
    with sqlite3.connect(hive.layout.db) as db:
        (base,) = db.execute("SELECT base FROM uid_bases WHERE agent = ?", (agent,)).fetchone()
    return int(base)


def test_root_inside_is_an_ordinary_uid_outside(nspawn_hive: ServedHive) -> None:
    nspawn_hive.deploy("worker")
    nspawn_hive.wait_for(lambda: "probe ready" in log_of(nspawn_hive, "worker"), timeout=20)
    log = log_of(nspawn_hive, "worker")
    base = base_of(nspawn_hive, "worker")
    assert base % UID_RANGE == 0 and base >= UID_RANGE
    assert f"uid_map: 0 {base} {UID_RANGE}" in log.replace("uid_map:  ", "uid_map: ")
    assert "whoami: 0" in log
    state = nspawn_hive.layout.agent("worker").state
    written = state / "written-inside"
    assert written.read_text() == "written\n"
    assert (written.stat().st_uid, written.stat().st_gid) == (base, base)
    assert (state / "sub" / "file").stat().st_uid == base
    sock = nspawn_hive.layout.agent("worker").socket
    assert sock.stat().st_uid == base and sock.parent.stat().st_uid == base
    assert "socket: yes" in log


def test_the_host_is_invisible_inside(nspawn_hive: ServedHive) -> None:
    nspawn_hive.cli("draft", "other")
    nspawn_hive.deploy("worker")
    nspawn_hive.wait_for(lambda: "probe ready" in log_of(nspawn_hive, "worker"), timeout=20)
    log = log_of(nspawn_hive, "worker")
    hidden = [line.split(": ", 1)[1] for line in log.splitlines() if line.startswith("hidden: ")]
    assert str(nspawn_hive.layout.db) in hidden
    assert str(nspawn_hive.layout.agent("other").state) in hidden
    assert {"/root/.ssh", "/home"} <= set(hidden)
    visible = [line.split(": ", 1)[1] for line in log.splitlines() if line.startswith("visible: ")]
    # The image's own /etc/shadow (every account locked) shows; the host's /etc is not there.
    assert visible in ([], ["/etc/shadow"])
    images = list((IMAGE_CACHE).glob("base-*/etc/shadow"))
    assert not visible or (
        images and all(p.read_bytes() != Path("/etc/shadow").read_bytes() for p in images)
    )
    assert "tree: # worker" in log


def test_state_survives_a_rebuild_and_bases_never_overlap(nspawn_hive: ServedHive) -> None:
    first = nspawn_hive.deploy("worker")
    nspawn_hive.wait_for(lambda: "probe ready" in log_of(nspawn_hive, "worker"), timeout=20)
    state = nspawn_hive.layout.agent("worker").state
    (state / "notes.md").write_text("remember this\n")
    head = commit_step(nspawn_hive.proposed("worker"), "worker", "02-add-tool")
    pending = nspawn_hive.wait_for(lambda: nspawn_hive.pending_for("worker"), what="pinned")
    assert nspawn_hive.cli("approve", str(pending["id"]), "--sha", head).returncode == 0
    agent = nspawn_hive.json("agents")[0]
    assert agent["deployed"] == head != first["head"]
    assert (state / "notes.md").read_text() == "remember this\n"
    assert (state / "notes.md").stat().st_uid == base_of(nspawn_hive, "worker")
    nspawn_hive.deploy("scout")
    a, b = base_of(nspawn_hive, "worker"), base_of(nspawn_hive, "scout")
    assert abs(a - b) >= UID_RANGE


def test_chown_never_follows_a_link(nspawn_hive: ServedHive, tmp_path: Path) -> None:
    assert nspawn_hive.cli("spawn", "worker").returncode == 0
    state = nspawn_hive.layout.agent("worker").state
    outside = tmp_path / "host-file"
    outside.write_text("host\n")
    (state / "link").symlink_to(outside)
    os.link(outside, state / "hardlink")
    pending = nspawn_hive.pending_for("worker")
    assert pending is not None
    assert nspawn_hive.cli("approve", str(pending["id"]), "--sha", pending["head"]).returncode == 0
    assert outside.stat().st_uid == 0  # neither the symlink nor the hard link moved it
    assert os.lstat(state / "link").st_uid == base_of(nspawn_hive, "worker")


def test_killing_the_container_reaches_the_managers_inbox(nspawn_hive: ServedHive) -> None:
    nspawn_hive.deploy("manager")
    nspawn_hive.deploy("worker")
    nspawn_hive.wait_for(lambda: "probe ready" in log_of(nspawn_hive, "worker"), timeout=20)
    pid = nspawn_hive.json("agents")[1]["runtime"]["pid"]
    base = base_of(nspawn_hive, "worker")

    def payloads() -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            try:
                uid = entry.stat().st_uid
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if base <= uid < base + UID_RANGE and cmd.startswith(b"sleep\x00100000"):
                found.add(int(entry.name))
        return found

    before = payloads()
    assert before
    os.kill(pid, signal.SIGKILL)  # systemd-nspawn itself, started for this test's agent

    def crash() -> list[dict[str, object]]:
        inbox = nspawn_hive.json("recv", "manager")["messages"]
        return [m for m in inbox if m["kind"] == "agent_crashed"]

    notices = nspawn_hive.wait_for(crash, timeout=10, what="the crash notice")
    assert notices[0]["data"]["agent"] == "worker"  # type: ignore[index]
    restarted = nspawn_hive.wait_for(
        lambda: (r := nspawn_hive.json("agents")[1]["runtime"])["pid"] not in (None, pid) and r,
        timeout=20,
        what="the restart",
    )
    assert restarted["restarts"] == 1
    # The container whose systemd-nspawn was killed outright does not live on, orphaned.
    nspawn_hive.wait_for(lambda: not before & payloads(), timeout=10, what="the old payload gone")
    nspawn_hive.wait_for(payloads, timeout=10, what="the new payload")
    # The killed container's payload was ended; only the restarted one's runs.
    nspawn_hive.wait_for(lambda: len(payloads()) == 1, timeout=10, what="one container left")


def test_the_manager_commits_to_others_and_reads_their_state(nspawn_hive: ServedHive) -> None:
    nspawn_hive.deploy("worker")
    nspawn_hive.deploy("manager")
    for agent in ("worker", "manager"):
        nspawn_hive.wait_for(lambda a=agent: "probe ready" in log_of(nspawn_hive, a), timeout=20)
    manager = log_of(nspawn_hive, "manager")
    assert "agents: worker" in manager
    assert "committed: /agents/worker" in manager
    assert "state read-only: /agents/worker" in manager
    assert "agents: none" in log_of(nspawn_hive, "worker")
    # The controller pins what the manager committed in its container, though the repo now
    # belongs to the manager's uid (the controller reads it itself; libgit2 never opens it).
    pending = nspawn_hive.wait_for(lambda: nspawn_hive.pending_for("worker"), what="pinned")
    assert pending["summary"] == "manager was here" and pending["valid"]
    repo = nspawn_hive.proposed("worker")
    assert (repo / ".git").stat().st_uid == base_of(nspawn_hive, "manager")
