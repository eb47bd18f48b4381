"""The one place an agent name is validated."""

from __future__ import annotations

import re

from gitops_hive.errors import InvalidName

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


class AgentName(str):
    """A str that has passed `validate_name`; only that function makes one."""

    __slots__ = ()


def validate_name(value: object) -> AgentName:
    """Return `value` as an AgentName, or raise InvalidName saying what is allowed."""
    if isinstance(value, AgentName):
        return value
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise InvalidName(
            f"invalid agent name {shown}: use 1-32 characters, a lowercase letter first, "
            "then lowercase letters, digits or '-'"
        )
    return AgentName(value)
