"""What one hive.toml setting is (key, type, default, help), and the duration type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Duration(float):
    """Seconds; hive.toml may write a number or a string such as "90s", "15m", "7d"."""


@dataclass(frozen=True)
class Setting:
    """One hive.toml key: dotted path, type, default and the comment written above it."""

    key: str
    type: type
    default: Any
    help: str
