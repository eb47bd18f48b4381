"""hive.toml read and validated against the settings table (settings.py)."""

from __future__ import annotations

import ipaddress
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from gitops_hive.durations import parse_duration
from gitops_hive.errors import ConfigError, HiveError, InvalidName
from gitops_hive.names import validate_name
from gitops_hive.settings import (
    AGENT_SUBNET,
    BY_KEY,
    RUNTIME_KINDS,
    SETTINGS,
    SUPERVISORS,
    UID_MAX,
    UID_RANGE,
    Duration,
)


@dataclass(frozen=True)
class HiveConfig:
    """The validated contents of hive.toml."""

    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def with_values(self, changes: dict[str, Any]) -> HiveConfig:
        """A copy with some settings replaced (command-line overrides)."""
        return HiveConfig({**self.values, **changes})

    @property
    def manager(self) -> str:
        return str(self.values["manager"])

    @property
    def agent_command(self) -> list[str]:
        """harness.agent_command; {python} is filled in here, the rest by the harness."""
        return [
            part.replace("{python}", sys.executable)
            for part in self.values["harness.agent_command"]
        ]

    @property
    def compact_command(self) -> list[str]:
        """harness.compact_command, {python} filled in like agent_command."""
        return [
            part.replace("{python}", sys.executable)
            for part in self.values["harness.compact_command"]
        ]

    @property
    def runtime_command(self) -> list[str]:
        return [part.replace("{python}", sys.executable) for part in self.values["runtime.command"]]


def default_config() -> HiveConfig:
    """The configuration a fresh `init` writes."""
    return HiveConfig({s.key: s.default for s in SETTINGS})


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not any(s.key == dotted for s in SETTINGS):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _duration(path: Path, key: str, value: Any) -> Any:
    if isinstance(value, int | float):
        return Duration(value)
    if isinstance(value, str):
        try:
            return Duration(parse_duration(value))
        except HiveError as exc:
            raise ConfigError(f"{path}: '{key}': {exc.message}") from None
    return value


def parse_config(text: str, path: Path) -> HiveConfig:
    """Validate hive.toml text; raise ConfigError naming the file and key."""
    try:
        doc = tomlkit.parse(text).unwrap()
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    values = {s.key: s.default for s in SETTINGS}
    for key, value in _flatten(doc).items():
        setting = BY_KEY.get(key)
        if setting is None:
            known = ", ".join(sorted(BY_KEY))
            raise ConfigError(f"{path}: unknown key '{key}'; known keys: {known}")
        if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if setting.type is Duration and not isinstance(value, bool):
            value = _duration(path, key, value)
        if not isinstance(value, setting.type) or isinstance(value, bool):
            raise ConfigError(
                f"{path}: '{key}' must be a {setting.type.__name__}, not {type(value).__name__}"
            )
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
        if isinstance(value, int | float) and not 0 < value < math.inf:
            raise ConfigError(f"{path}: '{key}' must be a number above 0, not {value}")
        values[key] = value
    try:
        validate_name(values["manager"])
    except InvalidName as exc:
        raise ConfigError(f"{path}: 'manager': {exc.message}") from None
    if values["runtime.kind"] not in RUNTIME_KINDS:
        raise ConfigError(
            f"{path}: runtime.kind {values['runtime.kind']!r} is not one of {list(RUNTIME_KINDS)}"
        )
    for key in ("harness.agent_command", "harness.compact_command"):
        if any(part != "{allowed_tools}" and "{allowed_tools}" in part for part in values[key]):
            raise ConfigError(
                f"{path}: '{key}': {{allowed_tools}} must be a whole item of the list (each tool "
                'becomes its own argument), e.g. "--allowedTools", "{allowed_tools}"'
            )
    if not values["runtime.command"]:
        raise ConfigError(f"{path}: runtime.command must not be empty")
    if values["nspawn.supervisor"] not in SUPERVISORS:
        raise ConfigError(
            f"{path}: nspawn.supervisor {values['nspawn.supervisor']!r} is not one of "
            f"{list(SUPERVISORS)}"
        )
    start = values["nspawn.uid_pool_start"]
    if start % UID_RANGE:
        raise ConfigError(f"{path}: 'nspawn.uid_pool_start' must be a multiple of {UID_RANGE}")
    if start + values["nspawn.uid_pool_size"] * UID_RANGE > UID_MAX:
        raise ConfigError(
            f"{path}: 'nspawn.uid_pool_start' + 'nspawn.uid_pool_size' ranges pass uid {UID_MAX}"
        )
    _check_network_range(path, values)
    return HiveConfig(values)


def _check_network_range(path: Path, values: dict[str, Any]) -> None:
    """A private IPv4 network with a /29 for each range of the uid pool."""
    raw = values["nspawn.network_range"]
    try:
        network = ipaddress.IPv4Network(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: 'nspawn.network_range' {raw!r} is not an IPv4 network such as "
            f"10.213.0.0/21: {exc}"
        ) from None
    if not network.is_private:
        raise ConfigError(f"{path}: 'nspawn.network_range' {raw!r} must be a private range")
    size = values["nspawn.uid_pool_size"]
    if network.num_addresses < size * AGENT_SUBNET:
        prefix = 32 - (size * AGENT_SUBNET - 1).bit_length()
        raise ConfigError(
            f"{path}: 'nspawn.network_range' {raw!r} has room for "
            f"{network.num_addresses // AGENT_SUBNET} agents (a /29 each), not the "
            f"{size} of nspawn.uid_pool_size: use a /{prefix} or wider"
        )


def load_config(path: Path) -> HiveConfig:
    """Read and validate hive.toml."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found: run `hivectl --root {path.parent} init` first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(text, path)


def docs_table() -> str:
    """The settings as the markdown table in docs/configuration.md."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = json.dumps(setting.default).replace("|", "\\|")
        rows.append(f"| `{setting.key}` | {setting.type.__name__} | `{default}` | {setting.help} |")
    return "\n".join(rows) + "\n"


def render_template() -> str:
    """hive.toml as `init` writes it, every setting with its comment."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("gitops-hive controller configuration. Restart `hivectl serve` after"))
    doc.add(tomlkit.comment("an edit. Every key is optional; docs/configuration.md lists them."))
    doc.add(tomlkit.nl())
    tables: dict[str, Any] = {}
    for setting in SETTINGS:
        head, _, leaf = setting.key.rpartition(".")
        target: Any = doc
        if head:
            if head not in tables:
                tables[head] = tomlkit.table()
                doc.add(head, tables[head])
            target = tables[head]
        target.add(tomlkit.comment(setting.help))
        target.add(leaf, setting.default)
    return tomlkit.dumps(doc)
