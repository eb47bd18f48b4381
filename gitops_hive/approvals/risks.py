"""What a proposal's network will be under this hive's runtime, and the risk a reviewer must
see before approving it, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitops_hive.spec import NetworkMode

ISOLATING_RUNTIMES = frozenset({"nspawn"})  # those that give each agent a network namespace
# Those that build each agent's root from its packages and mount its binds.
IMAGE_RUNTIMES = frozenset({"nspawn"})
SUMMARIES = {
    NetworkMode.OUTBOUND: "its own network namespace: out through NAT, the host's services refused",
    NetworkMode.NONE: "its own network namespace: loopback only",
    NetworkMode.HOST: "the host's network: it reaches the dashboard, the control API and "
    "every service on the host",
}
NOT_ISOLATED = "not isolated: the {runtime} runtime runs agents on the host's network"


@dataclass(frozen=True)
class ReviewWarning:
    """A risk shown on top of a review: a machine-readable code and one line for people."""

    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class NetworkReview:
    """The network an approved head will run with: what agent.toml asks, what it gets."""

    mode: NetworkMode
    isolated: bool
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "isolated": self.isolated, "summary": self.summary}


def network_review(mode: NetworkMode, runtime_kind: str) -> NetworkReview:
    """What `[container] network = mode` amounts to under `runtime.kind`."""
    if runtime_kind not in ISOLATING_RUNTIMES:
        return NetworkReview(mode, False, NOT_ISOLATED.format(runtime=runtime_kind))
    return NetworkReview(mode, mode is not NetworkMode.HOST, SUMMARIES[mode])


def network_warnings(mode: NetworkMode) -> list[ReviewWarning]:
    """The warning a head that asks for the host's network carries, whatever the runtime."""
    if mode is not NetworkMode.HOST:
        return []
    return [
        ReviewWarning(
            "network_host",
            'agent.toml asks for the host\'s network ([container] network = "host"): this '
            "agent would reach the dashboard, the control API and every service on the host",
        )
    ]


def package_warnings(packages: tuple[str, ...], runtime_kind: str) -> list[ReviewWarning]:
    """The warning a head with packages carries under a runtime that cannot install them."""
    if not packages or runtime_kind in IMAGE_RUNTIMES:
        return []
    return [
        ReviewWarning(
            "packages_ignored",
            f"[container] packages ({', '.join(packages)}) cannot be installed under the "
            f"{runtime_kind} runtime: the agent runs with the host's programs; install them on "
            'the host, or run the hive with runtime.kind = "nspawn"',
        )
    ]


def bind_warnings(binds: tuple[str, ...], runtime_kind: str) -> list[ReviewWarning]:
    """The warning a head with `[container] binds` carries under a runtime that cannot mount
    them, so the review never passes them off as storage that persists."""
    if not binds or runtime_kind in IMAGE_RUNTIMES:
        return []
    return [
        ReviewWarning(
            "binds_ignored",
            f"[container] binds ({', '.join(binds)}) cannot be mounted under the {runtime_kind} "
            "runtime: the agent sees the host's own paths there, and only its state folder "
            'persists; run the hive with runtime.kind = "nspawn" to have them kept',
        )
    ]
