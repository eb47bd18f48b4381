"""The one agent-name validator: what it accepts, what it refuses and how it says so."""

from __future__ import annotations

import pytest

from gitops_hive.errors import HiveError, InvalidName
from gitops_hive.names import RESERVED_NAMES, AgentName, validate_name
from gitops_hive.protocol import OPERATOR, RECIPIENT_KINDS, SYSTEM_SENDER

ALLOWED_HINT = "lowercase letter first"


@pytest.mark.parametrize(
    "name",
    ["a", "worker", "manager", "w0rker-2", "a-", "a" * 32, "x" + "-" * 31, "z9"],
)
def test_valid_names_come_back_as_agent_names(name: str) -> None:
    result = validate_name(name)
    assert isinstance(result, AgentName)
    assert result == name


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "A",
        "",
        "a/b",
        "a" * 33,
        "1worker",
        "-worker",
        "Worker",
        "work_er",
        "work.er",
        "worker ",
        " worker",
        "worker\n",
        "wörker",
        "..",
        ".",
        "a\x00b",
    ],
)
def test_bad_names_are_refused_naming_the_name_and_the_rule(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_name(name)
    error = caught.value
    assert isinstance(error, HiveError)
    assert repr(name) in error.message
    assert ALLOWED_HINT in error.message
    assert "1-32 characters" in error.message
    assert "\n" not in error.message.replace(repr(name), "")
    assert error.status == 400


@pytest.mark.parametrize("value", [None, 3, b"worker", ["worker"]])
def test_non_strings_are_refused_naming_their_type(value: object) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_name(value)
    assert type(value).__name__ in caught.value.message


def test_exactly_32_characters_is_the_longest_allowed() -> None:
    assert validate_name("a" * 32) == "a" * 32
    with pytest.raises(InvalidName):
        validate_name("a" * 33)


def test_a_validated_name_passes_again_unchanged() -> None:
    first = validate_name("worker")
    assert validate_name(first) is first


def test_a_plain_str_subclass_is_still_checked() -> None:
    class Sneaky(str):
        pass

    with pytest.raises(InvalidName):
        validate_name(Sneaky("../etc"))


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_names_the_hive_uses_for_itself_are_refused_with_the_reason(name: str) -> None:
    with pytest.raises(InvalidName, match="reserved") as refused:
        validate_name(name)
    assert "\n" not in str(refused.value) and "pick another name" in str(refused.value)


def test_every_sender_name_of_the_protocol_is_reserved() -> None:
    assert {OPERATOR, SYSTEM_SENDER} <= RESERVED_NAMES
    assert {kind for kind in RECIPIENT_KINDS if kind not in ("peer", "manager")} <= RESERVED_NAMES
