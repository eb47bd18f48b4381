"""agent.toml: its schema, its parsed form, and errors that name file, line and key."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError

from gitops_hive.errors import HiveError
from gitops_hive.names import validate_name
from gitops_hive.tool_entries import tool_entry_problem

SPEC_FILE = "agent.toml"
# A Debian package name (policy 5.6.1): what apt-get is handed, so never an option; never
# ending in "-" either, which apt-get install reads as "remove this package".
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*[a-z0-9+.]")
MAX_PACKAGES = 100
ENV_KEY = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
RESERVED_ENV_PREFIXES = ("HIVE_", "LD_")  # LD_*: the dynamic loader's (LD_AUDIT loads code)
RESERVED_ENV = frozenset({"PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH"})
# A bind is a folder name per part: never ':' or ',' (nspawn's --bind separators), nor blanks.
BIND_PART = re.compile(r"[A-Za-z0-9._+-]+")
MAX_BIND_CHARS = 100  # so its host folder's one name (layout.bind_folder_name) stays short
MAX_BINDS = 16
# What the controller (or systemd-nspawn itself) mounts in an nspawn container besides its
# root (which no bind may be): the image's /usr, /etc and /var/lib, the merged-/usr links,
# /proc, /sys, /dev, /run (the socket at /run/hive), /tmp, the state, the tree, the agent CLI
# at /opt/hive, the manager's /agents and /hive.git. A bind at, above or under one is refused.
RESERVED_MOUNTS = (
    "/usr", "/etc", "/var/lib", "/bin", "/sbin", "/lib", "/lib64", "/proc", "/sys",
    "/dev", "/run", "/state", "/agent", "/opt/hive", "/agents", "/hive.git",
    "/tmp",  # noqa: S108 (nspawn's tmpfs, not a file the controller writes)
)  # fmt: skip


class NetworkMode(StrEnum):
    """What network an agent's container has (agent.toml's `[container] network`)."""

    OUTBOUND = "outbound"  # its own namespace, out through NAT; the host itself refused
    NONE = "none"  # its own namespace with loopback only
    HOST = "host"  # the host's namespace: every host service is in reach (flagged in review)


@dataclass(frozen=True)
class Problem:
    """One validation error: where it is and what is wrong."""

    file: str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


@dataclass(frozen=True)
class Field:
    """One key of the agent.toml schema."""

    type: str  # "str" | "list[str]" | "table[str]"
    required: bool
    help: str


SCHEMA: dict[str, Field] = {
    "description": Field("str", True, "What the agent is for, one line."),
    "model": Field("str", False, "Model to run; a git note or the hive default may override."),
    "container.packages": Field("list[str]", False, "Packages the container needs."),
    "container.env": Field("table[str]", False, "Environment for the agent (UPPER_CASE keys)."),
    "container.binds": Field(
        "list[str]", False, "Extra writable container paths that persist (nspawn)."
    ),
    "container.network": Field(
        "str",
        False,
        'The container\'s network: "outbound" (default), "none" or "host" (a risk).',
    ),
    "tools.allow": Field("list[str]", False, "Tool allow-list passed to the agent CLI."),
    "messaging.recipients": Field("list[str]", False, "Agents this agent may message."),
}
TABLES = frozenset(key.split(".")[0] for key in SCHEMA if "." in key)


@dataclass(frozen=True)
class AgentSpec:
    """A validated agent.toml."""

    description: str
    model: str | None = None
    packages: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()
    network: NetworkMode = NetworkMode.OUTBOUND
    tools_allow: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()


def _dotted(raw: str) -> str:
    """A TOML key or header as written (`a . "b"`) in plain dotted form (`a.b`)."""
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _key_line(text: str, dotted: str) -> int | None:
    """Best-effort line number of a dotted key (`[a]` + `b =`, `a.b =`, `[a.b]`)."""
    current = ""
    key_re = re.compile(r"""^\s*([A-Za-z0-9_\-"'. ]+?)\s*=""")
    header_re = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]")

    def names(key: str) -> bool:
        return key == dotted or key.startswith(dotted + ".")

    for number, line in enumerate(text.splitlines(), start=1):
        header = header_re.match(line)
        if header:
            current = _dotted(header.group(1))
            if names(current):
                return number
            continue
        key = key_re.match(line)
        if key and names(_dotted(f"{current}.{key.group(1)}" if current else key.group(1))):
            return number
    return None


def _check_type(kind: str, value: Any) -> str | None:
    if kind == "str":
        return None if isinstance(value, str) else "must be a string"
    if kind == "list[str]":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a list of strings"
    if kind == "table[str]":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return None if ok else "must be a table of string values"
    raise AssertionError(kind)


def _flatten(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in doc.items():
        if key in TABLES:
            if not isinstance(value, dict):
                unknown.append(key)
                continue
            for sub, subvalue in value.items():
                dotted = f"{key}.{sub}"
                if dotted in SCHEMA:
                    values[dotted] = subvalue
                else:
                    unknown.append(dotted)
        elif key in SCHEMA:
            values[key] = value
        else:
            unknown.append(key)
    return values, unknown


def _nested(path: str, other: str) -> bool:
    """Whether two container paths are one, or one lies inside the other."""
    return path == other or path.startswith(other + "/") or other.startswith(path + "/")


def bind_problem(bind: str, mounted: Collection[str] = RESERVED_MOUNTS) -> str | None:
    """What is wrong with one `[container] binds` entry, or None; `mounted`: the container
    paths the controller mounts, which a bind may neither cover nor sit inside."""
    example = 'e.g. "/var/cache/tool"'
    if not bind.startswith("/") or len(bind) > MAX_BIND_CHARS:
        limit = f"at most {MAX_BIND_CHARS} characters"
        return f"bind {bind!r} must be an absolute path of {limit}, {example}"
    parts = bind[1:].split("/")
    if any(part in ("", ".", "..") for part in parts):
        return f"bind {bind!r} must be plain (no '.', '..', '//', trailing '/'), {example}"
    if not all(BIND_PART.fullmatch(part) for part in parts):
        return f"bind {bind!r} may hold only letters, digits and . _ + - between its '/', {example}"
    for path in mounted:
        if _nested(bind, path):
            return (
                f"bind {bind!r} would cover or sit inside {path}, which the controller "
                'mounts; pick a path outside it, e.g. "/data"'
            )
    return None


def bind_problems(binds: Sequence[str]) -> list[str]:
    """Every problem of a `[container] binds` list: each entry's, and entries that overlap."""
    found = [p for bind in binds if (p := bind_problem(bind)) is not None]
    if len(binds) > MAX_BINDS:
        found.append(f"lists more than {MAX_BINDS} binds")
    fine = [bind for bind in binds if bind_problem(bind) is None]
    overlaps = [(b, other) for i, b in enumerate(fine) for other in fine[:i] if _nested(b, other)]
    return found + [
        f"bind {b!r} overlaps {o!r}; list a folder once, none in another" for b, o in overlaps
    ]


def _semantic_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key in values.get("container.env", {}):
        if not ENV_KEY.fullmatch(key):
            found.append(
                ("container.env", f"variable {key!r} must be UPPER_CASE letters, digits, _")
            )
        elif key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIXES):
            found.append(("container.env", f"variable {key!r} is reserved for the controller"))
    found += [("container.binds", p) for p in bind_problems(values.get("container.binds", []))]
    packages = values.get("container.packages", [])
    for package in packages:
        if package.endswith("-") and PACKAGE_NAME.fullmatch(package[:-1]):
            found.append(
                (
                    "container.packages",
                    f"{package!r} ends in '-', which apt reads as removing {package[:-1]!r}; "
                    "list only packages to install",
                )
            )
        elif not PACKAGE_NAME.fullmatch(package):
            found.append(
                ("container.packages", f'{package!r} is not a Debian package name, e.g. "jq"')
            )
    if len(packages) > MAX_PACKAGES:
        found.append(("container.packages", f"lists more than {MAX_PACKAGES} packages"))
    for entry in values.get("tools.allow", []):
        problem = tool_entry_problem(entry)
        if problem is not None:
            found.append(("tools.allow", f"entry {entry!r}: {problem}"))
    network = values.get("container.network", NetworkMode.OUTBOUND.value)
    if network not in set(NetworkMode):
        allowed = ", ".join(f'"{mode.value}"' for mode in NetworkMode)
        found.append(("container.network", f"must be one of {allowed}, not {network!r}"))
    for name in values.get("messaging.recipients", []):
        try:
            validate_name(name)
        except HiveError:
            found.append(("messaging.recipients", f"recipient {name!r} is not a valid agent name"))
    if isinstance(values.get("description"), str) and not values["description"].strip():
        found.append(("description", "must not be empty"))
    return found


def validate_spec(text: str) -> tuple[AgentSpec | None, list[Problem]]:
    """Parse agent.toml; return the spec (None when invalid) and every problem found."""
    try:
        doc = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        return None, [Problem(SPEC_FILE, exc.line, None, f"not valid TOML: {exc}")]
    except TOMLKitError as exc:
        return None, [Problem(SPEC_FILE, None, None, f"not valid TOML: {exc}")]
    values, unknown = _flatten(doc)
    problems = [
        Problem(SPEC_FILE, _key_line(text, key), key, "unknown key (see docs/agent-spec.md)")
        for key in unknown
    ]
    for key, spec_field in SCHEMA.items():
        if key not in values:
            if spec_field.required:
                problems.append(Problem(SPEC_FILE, None, key, "required key is missing"))
            continue
        error = _check_type(spec_field.type, values[key])
        if error:
            problems.append(Problem(SPEC_FILE, _key_line(text, key), key, error))
    if not problems:
        problems += [
            Problem(SPEC_FILE, _key_line(text, key), key, message)
            for key, message in _semantic_problems(values)
        ]
    if problems:
        return None, problems
    return AgentSpec(
        description=values["description"],
        model=values.get("model"),
        packages=tuple(values.get("container.packages", ())),
        env=dict(values.get("container.env", {})),
        binds=tuple(values.get("container.binds", ())),
        network=NetworkMode(values.get("container.network", NetworkMode.OUTBOUND)),
        tools_allow=tuple(values.get("tools.allow", ())),
        recipients=tuple(values.get("messaging.recipients", ())),
    ), []


def model_problem(text: str, spec: AgentSpec, allowed: Sequence[str]) -> Problem | None:
    """A `model` hive.toml's `models` does not list, as a problem naming its line."""
    if spec.model is None or spec.model in allowed:
        return None
    return Problem(
        SPEC_FILE,
        _key_line(text, "model"),
        "model",
        f"{spec.model!r} is not one of hive.toml's models ({', '.join(allowed)}); "
        "pick one of them, or have the operator add it to models",
    )
