"""Every path of a hive, built from a root and validated agent names, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gitops_hive.names import NAME_PATTERN, AgentName, validate_name

UNIX_PATH_MAX = 107  # a unix socket path: sun_path is 108 bytes with its NUL


def default_root() -> Path:
    """The hive root when neither --root nor HIVE_ROOT is given."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "gitops-hive"


def bind_folder_name(inside: str) -> str:
    """The one folder name that holds container path `inside` on the host: each '/' spelled
    '%2F' (and '%' '%25'), so it is never '.', '..' or nested, and two paths never share it."""
    if not inside.startswith("/") or "\0" in inside:
        raise ValueError(f"not an absolute container path: {inside!r}")
    return quote(inside, safe="")


@dataclass(frozen=True)
class AgentLayout:
    """The paths of one agent."""

    name: AgentName
    dir: Path

    @property
    def proposed(self) -> Path:
        return self.dir / "proposed"

    @property
    def proposed_git(self) -> Path:
        return self.dir / "proposed" / ".git"

    @property
    def applied(self) -> Path:
        return self.dir / "applied.git"

    @property
    def state(self) -> Path:
        return self.dir / "state"

    @property
    def push_repo(self) -> Path:
        """The manager's own push target, its /hive.git: a bare repo it owns and writes."""
        return self.dir / "push.git"

    @property
    def run(self) -> Path:
        return self.dir / "run"

    @property
    def trees(self) -> Path:
        """Where deployed commits are materialised, one folder per sha."""
        return self.dir / "run" / "trees"

    def tree(self, sha: str) -> Path:
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a full sha: {sha!r}")
        return self.trees / sha

    @property
    def log(self) -> Path:
        return self.dir / "run" / "agent.log"

    @property
    def socket_dir(self) -> Path:
        """0700, owned by the agent's uid; bound into its container at /run/hive."""
        return self.dir / "run" / "hive"

    @property
    def socket(self) -> Path:
        """The agent's broker socket; the socket a call arrives on is the caller's identity."""
        return self.socket_dir / "hive.sock"

    @property
    def binds(self) -> Path:
        """Root's own (nspawn): one folder per `[container] binds` path, the agent's to write."""
        return self.dir / "binds"

    def bind_folder(self, inside: str) -> Path:
        """The host folder behind container path `inside`; kept when the bind is dropped."""
        return self.binds / bind_folder_name(inside)

    @property
    def rootfs(self) -> Path:
        """Where container root filesystems are rendered, one folder per deployed sha."""
        return self.dir / "run" / "rootfs"


@dataclass(frozen=True)
class HiveLayout:
    """The paths of a hive root."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "hive.toml"

    @property
    def db(self) -> Path:
        return self.root / "hive.db"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def hive_git(self) -> Path:
        """The operator's push target: pushing a branch NAME here drafts agent NAME."""
        return self.root / "hive.git"

    @property
    def images(self) -> Path:
        """Agent images (nspawn), unless nspawn.image_cache names another folder."""
        return self.root / "images"

    @property
    def control_socket(self) -> Path:
        return self.root / "run" / "control.sock"

    @property
    def listing_snapshot(self) -> Path:
        """What the last controller knew of each agent's refs, read back at start."""
        return self.root / "run" / "listing.json"

    @property
    def notify_socket(self) -> Path:
        """Datagram socket the proposed/ hooks ping with an agent name."""
        return self.root / "run" / "notify.sock"

    @property
    def dashboard_url(self) -> Path:
        """Where the running controller writes its dashboard's URL (no secret in it)."""
        return self.root / "run" / "dashboard.url"

    @property
    def token(self) -> Path:
        return self.root / "operator.token"

    def agent(self, name: str) -> AgentLayout:
        valid = validate_name(name)
        return AgentLayout(valid, self.agents_dir / valid)

    def staging_dir(self, name: str) -> Path:
        """A hidden sibling where a new agent is built before its atomic rename."""
        valid = validate_name(name)
        return self.agents_dir / f".new-{valid}-{os.getpid()}"

    def existing_agents(self) -> list[AgentName]:
        """Agent folders on disk whose names are valid (anything else is ignored)."""
        if not self.agents_dir.is_dir():
            return []
        found: list[AgentName] = []
        for entry in sorted(self.agents_dir.iterdir()):
            if entry.is_dir() and NAME_PATTERN.fullmatch(entry.name):
                found.append(validate_name(entry.name))
        return found
