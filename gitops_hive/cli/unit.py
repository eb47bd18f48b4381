"""hivectl unit: the controller's systemd service for a Debian host, hardened as the NixOS
module's (nix/module.nix; tests/test_nix.py holds the two to the same settings)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from gitops_hive.cli.common import echo, layout_of

# [Service] settings beyond ExecStart and Environment, in nix/module.nix's serviceConfig too.
SERVICE: tuple[tuple[str, str], ...] = (
    ("Type", "simple"),
    ("User", "root"),  # nspawn maps each agent to an unprivileged uid range of its own
    ("Restart", "on-failure"),
    ("RestartSec", "2s"),
    ("KillMode", "mixed"),
    ("TimeoutStopSec", "30s"),
    ("Delegate", "yes"),
    ("LimitNOFILE", "65536"),
    ("UMask", "0077"),
    ("ProtectSystem", "full"),
    ("ProtectHome", "read-only"),
    ("PrivateTmp", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("LockPersonality", "yes"),
    ("RestrictRealtime", "yes"),
    ("SystemCallArchitectures", "native"),
)


def hivectl_path() -> str:
    """The hivectl this command runs as: beside the interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("hivectl")
    if beside.is_file():
        return str(beside)
    return shutil.which("hivectl") or str(beside)


def render_unit(root: Path, hivectl: str) -> str:
    """gitops-hive.service for the hive at `root`."""
    lines = [
        "[Unit]",
        f"Description=gitops-hive controller ({root})",
        "After=network.target",
        "",
        "[Service]",
        f"ExecStart={hivectl} --root {root} serve",
        f"Environment=HIVE_ROOT={root}",
        f"ReadWritePaths={root}",
        *(f"{key}={value}" for key, value in SERVICE),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


@click.command()
@click.pass_context
def unit(ctx: click.Context) -> None:
    """Print a systemd service for this hive (install it as gitops-hive.service)."""
    root = layout_of(ctx).root.resolve()
    echo(render_unit(root, hivectl_path()), nl=False)


UNIT_COMMANDS = (unit,)
