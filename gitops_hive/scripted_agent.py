"""A scripted agent (a stand-in for the Claude CLI) that the demo and the tests run.

It reads its agent.toml from $HIVE_TREE, prints what it runs, and writes a heartbeat to
its state dir every second. `SCRIPTED_AGENT_EXIT=N` in [container] env makes it exit with
status N at once: the way to see a failed deploy.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import tomllib
from pathlib import Path
from types import FrameType


def _stop(signum: int, frame: FrameType | None) -> None:
    print(f"scripted agent: got signal {signum}, stopping", flush=True)
    sys.exit(0)


def main() -> int:
    """Run until stopped, heartbeating into $HIVE_STATE/heartbeat."""
    signal.signal(signal.SIGTERM, _stop)
    name = os.environ.get("HIVE_AGENT", "?")
    commit = os.environ.get("HIVE_COMMIT", "?")
    tree = Path(os.environ.get("HIVE_TREE", "."))
    spec = tomllib.loads((tree / "agent.toml").read_text(encoding="utf-8"))
    print(f"scripted agent {name} at {commit}: {spec.get('description', '')}", flush=True)
    print(f"model {os.environ.get('HIVE_MODEL', '?')}", flush=True)
    exit_code = os.environ.get("SCRIPTED_AGENT_EXIT")
    if exit_code is not None:
        print(f"scripted agent: SCRIPTED_AGENT_EXIT={exit_code}, exiting", flush=True)
        return int(exit_code)
    state = Path(os.environ.get("HIVE_STATE", "."))
    beat = 0
    while True:
        beat += 1
        (state / "heartbeat.tmp").write_text(f"{commit} {beat} {time.time()}\n")
        (state / "heartbeat.tmp").replace(state / "heartbeat")
        time.sleep(1.0)


if __name__ == "__main__":
    raise SystemExit(main())
