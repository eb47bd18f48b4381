"""The host uid pool for agents with private users: one fixed range per agent, never shared."""

from __future__ import annotations

from collections.abc import Collection

from gitops_hive.errors import ConfigError
from gitops_hive.settings import UID_RANGE


def free_base(taken: Collection[int], start: int, size: int) -> int:
    """The first base of the pool (`size` ranges of UID_RANGE from `start`) not in `taken`."""
    candidates = (start + i * UID_RANGE for i in range(size))
    free = next((base for base in candidates if base not in taken), None)
    if free is None:
        raise ConfigError(
            f"the uid pool is full ({size} ranges from {start}): raise nspawn.uid_pool_size "
            "in hive.toml"
        )
    return free
