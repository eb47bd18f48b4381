"""The one place an agent name is validated."""

from __future__ import annotations

import re

from gitops_hive.errors import InvalidName

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
# Names the hive speaks as or about itself: an agent named so would pass for the operator
# (`protocol.OPERATOR`), the system (`protocol.SYSTEM_SENDER`, the kind `system`) or the
# controller in every inbox, log and page. tests/test_names.py keeps this in step with
# protocol.py.
RESERVED_NAMES = frozenset({"operator", "hive", "system", "controller", "root", "admin"})


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
    if value in RESERVED_NAMES:
        raise InvalidName(
            f"agent name {value!r} is reserved: the hive uses it for itself (senders, the "
            "system, the controller); pick another name"
        )
    return AgentName(value)
