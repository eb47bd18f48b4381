"""hive.toml: the template round-trips, and every bad value is one line naming its key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomlkit

from gitops_hive.config import default_config, load_config, parse_config, render_template
from gitops_hive.errors import ConfigError
from gitops_hive.settings import SETTINGS

PATH = Path("/hive/hive.toml")


def refused(text: str) -> str:
    """The ConfigError message parse_config gives for `text`; it must be one line."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, PATH)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(f"{PATH}: ")
    return message


def test_the_template_parses_to_the_defaults() -> None:
    config = parse_config(render_template(), PATH)
    assert config.values == default_config().values
    assert set(config.values) == {s.key for s in SETTINGS}


def test_the_template_writes_every_key_with_its_comment() -> None:
    text = render_template()
    doc = tomlkit.parse(text).unwrap()
    for setting in SETTINGS:
        head, _, leaf = setting.key.rpartition(".")
        table = doc[head] if head else doc
        assert table[leaf] == setting.default, setting.key
        assert f"# {setting.help}" in text, setting.key


def test_an_empty_file_takes_every_default() -> None:
    assert parse_config("", PATH).values == default_config().values


def test_edited_values_are_kept() -> None:
    text = render_template().replace('manager = "manager"', 'manager = "boss"')
    text = text.replace("start_grace = 1.0", "start_grace = 0.3")
    text = text.replace("max_files = 2000", "max_files = 7")
    config = parse_config(text, PATH)
    assert config.manager == "boss"
    assert config["runtime.start_grace"] == 0.3
    assert config["limits.max_files"] == 7


def test_an_integer_is_accepted_for_a_float_setting() -> None:
    config = parse_config("[runtime]\nstart_grace = 2\n", PATH)
    value = config["runtime.start_grace"]
    assert value == 2.0 and isinstance(value, float)


def test_python_placeholder_in_the_command_is_the_running_interpreter() -> None:
    config = parse_config('[runtime]\ncommand = ["{python}", "-m", "x", "{python}x"]\n', PATH)
    assert config.runtime_command == [sys.executable, "-m", "x", f"{sys.executable}x"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1\n", "colour"),
        ("[runtime]\nspeed = 1\n", "runtime.speed"),
        ("[nspawn]\nbase = 1\n", "nspawn.base"),
        ("runtime = 3\n", "runtime"),
    ],
)
def test_unknown_keys_are_named(text: str, key: str) -> None:
    message = refused(text)
    assert f"unknown key '{key}'" in message
    assert "runtime.start_grace" in message  # the known keys are listed


@pytest.mark.parametrize(
    ("text", "key", "wanted", "got"),
    [
        ("manager = 1\n", "manager", "str", "int"),
        ('models = "opus"\n', "models", "list", "str"),
        ('[runtime]\nstart_grace = "1"\n', "runtime.start_grace", "float", "str"),
        ("[runtime]\nstart_grace = true\n", "runtime.start_grace", "float", "bool"),
        ("[limits]\nmax_files = 1.5\n", "limits.max_files", "int", "float"),
        ("[limits]\nmax_files = true\n", "limits.max_files", "int", "bool"),
        ("[web]\nlisten = 8470\n", "web.listen", "str", "int"),
        ("[runtime]\ncommand = 'agent'\n", "runtime.command", "list", "str"),
    ],
)
def test_wrong_types_name_the_key_and_both_types(
    text: str, key: str, wanted: str, got: str
) -> None:
    message = refused(text)
    assert f"'{key}' must be a {wanted}, not {got}" in message


def test_a_list_of_non_strings_is_refused() -> None:
    assert "'models' must be a list of strings" in refused('models = ["opus", 2]\n')


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[limits]\nmax_files = 0\n", "limits.max_files"),
        ("[limits]\nmax_file_bytes = -1\n", "limits.max_file_bytes"),
        ("[runtime]\nstart_grace = -0.5\n", "runtime.start_grace"),
        ("[runtime]\nrestart_backoff = 0.0\n", "runtime.restart_backoff"),
        ("[runtime]\nrestart_backoff_max = nan\n", "runtime.restart_backoff_max"),
        ("[runtime]\nstart_grace = inf\n", "runtime.start_grace"),
    ],
)
def test_numbers_must_be_above_zero_and_finite(text: str, key: str) -> None:
    assert f"'{key}' must be a number above 0" in refused(text)


@pytest.mark.parametrize("manager", ["../x", "Manager", "", "a/b"])
def test_the_manager_must_be_a_valid_agent_name(manager: str) -> None:
    message = refused(f'manager = "{manager}"\n')
    assert "'manager'" in message and repr(manager) in message


def test_an_unknown_runtime_kind_is_refused() -> None:
    message = refused('[runtime]\nkind = "docker"\n')
    assert "runtime.kind 'docker'" in message and "process" in message


def test_an_empty_command_is_refused() -> None:
    assert "runtime.command must not be empty" in refused("[runtime]\ncommand = []\n")


def test_invalid_toml_is_one_line() -> None:
    assert "not valid TOML" in refused('manager = "unterminated\n[limits\n')


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hive.toml"
    path.write_text(render_template().replace('default_model = "sonnet"', 'default_model = "opus"'))
    assert load_config(path)["default_model"] == "opus"


def test_a_missing_file_says_to_run_init(tmp_path: Path) -> None:
    path = tmp_path / "hive.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and "init" in caught.value.message


def test_an_undecodable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "hive.toml"
    path.write_bytes(b'manager = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "cannot read" in caught.value.message and "\n" not in caught.value.message


def test_allowed_tools_must_be_a_whole_item_of_the_agent_command() -> None:
    message = refused('[harness]\nagent_command = ["claude", "--allowedTools={allowed_tools}"]\n')
    assert "'harness.agent_command'" in message and "whole item" in message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10.1.2.3/24", "is not an IPv4 network such as 10.213.0.0/21: 10.1.2.3/24 has host bits"),
        ("fd00::/64", "is not an IPv4 network"),
        ("8.8.8.0/24", "must be a private range"),
        ("10.9.0.0/24", "has room for 32 agents (a /29 each), not the 256 of"),
    ],
)
def test_the_network_range_is_private_ipv4_with_a_29_per_pool_range(
    value: str, reason: str
) -> None:
    message = refused(f'[nspawn]\nnetwork_range = "{value}"\n')
    assert message.startswith(f"{PATH}: 'nspawn.network_range' {value!r} {reason}")


def test_a_smaller_pool_fits_a_smaller_range() -> None:
    text = '[nspawn]\nnetwork_range = "10.9.0.0/24"\nuid_pool_size = 32\n'
    assert parse_config(text, PATH)["nspawn.network_range"] == "10.9.0.0/24"
