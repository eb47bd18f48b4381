"""`make demo`: a hive on the embedded default with a scripted agent and a proposal to review."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import tomlkit
import tomlkit.items

from gitops_hive.client import ControlClient
from gitops_hive.controller import configure_logging, run_controller
from gitops_hive.errors import Conflict, HiveError
from gitops_hive.init_root import init_root
from gitops_hive.layout import HiveLayout

AGENT = "demo-worker"
DEFAULT_PORT = 8470
MANAGER = "manager"
SCRIPTED_CLI = ["{python}", "-m", "gitops_hive.agent.scripted", "--turn", "--model", "{model}"]
SCRIPTED_COMPACT = ["{python}", "-m", "gitops_hive.agent.scripted", "--compact"]
MANAGER_GIT = {
    "GIT_AUTHOR_NAME": "demo manager",
    "GIT_AUTHOR_EMAIL": "manager@hive.demo",
    "GIT_COMMITTER_NAME": "demo manager",
    "GIT_COMMITTER_EMAIL": "manager@hive.demo",
}
CHANGE = """
You also keep a short changelog of what you did in /state/changelog.md.
"""


def _manager_commit(proposed: Path) -> None:
    """Commit a prompt change with the git CLI, the way the manager agent does."""
    with (proposed / "prompt.md").open("a", encoding="utf-8") as handle:
        handle.write(CHANGE)
    env = {**os.environ, **MANAGER_GIT}
    subprocess.run(
        ["git", "-C", str(proposed), "commit", "-qam", "Keep a changelog"], check=True, env=env
    )


def _use_scripted_cli(config: Path) -> None:
    """The demo's agents play their turns with the scripted agent, not the Claude CLI."""
    doc = tomlkit.parse(config.read_text(encoding="utf-8"))
    harness = doc["harness"]
    assert isinstance(harness, tomlkit.items.Table)
    harness["agent_command"] = SCRIPTED_CLI
    harness["agent_command"].comment("the demo's scripted agent stands in for the Claude CLI")
    harness["compact_command"] = SCRIPTED_COMPACT
    harness["compact_command"].comment("and for its notes-compaction session")
    config.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _stage(layout: HiveLayout) -> dict[str, object]:
    """Spawn and deploy the manager and the demo agent once, then leave one proposal pending."""
    client = ControlClient.of(layout)
    existing = {a["name"] for a in client.agents()}
    for name in (MANAGER, AGENT):
        if name not in existing:
            spawned = client.spawn(name)
            client.approve(spawned["id"], spawned["head"])
    proposed = layout.agent(AGENT).proposed
    if CHANGE not in (proposed / "prompt.md").read_text(encoding="utf-8"):
        _manager_commit(proposed)  # once: a restart finds it committed (and maybe approved)
    for _ in range(100):
        found = [p for p in client.pending() if p["agent"] == AGENT]
        if found:
            return dict(found[0])
        time.sleep(0.05)
    raise Conflict("the demo proposal did not show up; see the controller log above")


def _explain(layout: HiveLayout, pending: dict[str, object]) -> str:
    root = layout.root
    dashboard = layout.dashboard_url.read_text().strip()
    return f"""
gitops-hive demo is running: root {root}, runtime `process`, agent {AGENT} (scripted).

Dashboard: {dashboard}
    log in with the URL `HIVE_ROOT={root} .venv/bin/hivectl token` prints
    (the token rides after '#', so it never reaches a server log)

The demo manager just committed to {layout.agent(AGENT).proposed}; the controller
pinned it as approval #{pending["id"]}: review it at {dashboard}approvals/{pending["id"]}
or, in another terminal:

    export HIVE_ROOT={root}
    .venv/bin/hivectl pending
    .venv/bin/hivectl show {pending["id"]}
    .venv/bin/hivectl approve {pending["id"]} --sha {pending["head"]}
    .venv/bin/hivectl agents
    .venv/bin/hivectl history {AGENT}

Talk to the agents: the scripted {AGENT} answers an operator message by telling the
manager, and every decision above lands in the manager's inbox too:

    .venv/bin/hivectl send {AGENT} "index the docs"
    tail {layout.agent(MANAGER).log}     # the manager's turn on the worker's reply

Switch the worker's model with no rebuild (a git note; its next turn runs with it):

    .venv/bin/hivectl model {AGENT} opus --reason "a harder task"
    .venv/bin/hivectl send {AGENT} "try again"
    .venv/bin/hivectl model {AGENT}          # active once that turn ran

Commit to {layout.agent(AGENT).proposed} yourself and watch `hivectl pending`.
Ctrl-C stops the controller and its agents; `make demo` again picks up where it stopped.
"""


def _listen() -> tuple[str, str]:
    """127.0.0.1 and $DEMO_PORT (default 8470), or a free port if that one is taken; and a
    line saying which."""
    wanted = int(os.environ.get("DEMO_PORT") or DEFAULT_PORT)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
            return f"127.0.0.1:{wanted}", ""
        except OSError:
            pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}", f"port {wanted} is taken: using {port} (DEMO_PORT=N picks one)"


async def _main(root: Path) -> None:
    layout = HiveLayout(root)
    ready = asyncio.Event()
    listen, note = _listen()
    if note:
        print(note, flush=True)
    controller = asyncio.create_task(run_controller(root, listen=listen, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({controller, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if controller.done():
        waiter.cancel()
        await controller  # raises what stopped it
        return
    pending = await asyncio.to_thread(_stage, layout)
    print(_explain(layout, pending), flush=True)
    await controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(".demo/hive"))
    args = parser.parse_args()
    configure_logging()
    root = args.root.absolute()
    made = init_root(root)
    if made:
        _use_scripted_cli(HiveLayout(root).config)
        print(f"initialised {root}: {', '.join(made)}", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main(root))
    except HiveError as exc:
        print(f"demo: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
