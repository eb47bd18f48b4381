"""What a proposal changes, in words: its agent.toml and prompt at base and head compared,
and the changes a reviewer must not miss flagged as risks. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitops_hive.spec import AgentSpec

SECRET_KEY = re.compile(
    r"(?i)secret|token|pass(?:w|$|_)|pwd|credential|private|auth|cookie|session|key|dsn"
    r"|(?:^|_)pat(?:$|_)"
)
MASK = "•••"
# Variables that make programs in the container load or run code, or send their traffic or
# trust elsewhere: a change to one can do what the allow-list forbids. Never masked (their
# values are paths, commands and addresses), always a risk.
RUNS_CODE = re.compile(
    r"PYTHON\w*|NODE_OPTIONS|NODE_PATH|NODE_EXTRA_CA_CERTS|BASH_ENV|ENV|SHELLOPTS|BASHOPTS"
    r"|PROMPT_COMMAND|PS4|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|GCONV_PATH|LOCPATH"
    r"|GIT_\w*|\w*_ASKPASS|SHELL|EDITOR|VISUAL|\w*PAGER|LESSOPEN|LESSCLOSE|BROWSER"
    r"|\w*_PROXY|SSL_CERT_\w*|\w*_CA_BUNDLE|ANTHROPIC_BASE_URL|\w*_BASE_URL|XDG_\w*"
)
BASH = "Bash"


@dataclass(frozen=True)
class Risk:
    """A change that widens what the agent may do or reach."""

    code: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


def _sets(before: tuple[str, ...], after: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        "added": [x for x in after if x not in before],
        "removed": [x for x in before if x not in after],
    }


def _shown(key: str, value: str) -> str:
    return MASK if SECRET_KEY.search(key) and not RUNS_CODE.fullmatch(key) else value


def env_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, Any]:
    """Keys added, removed and changed; values masked where the key looks secret."""
    return {
        "added": {k: _shown(k, v) for k, v in after.items() if k not in before},
        "removed": sorted(k for k in before if k not in after),
        "changed": {
            k: {"from": _shown(k, before[k]), "to": _shown(k, v)}
            for k, v in after.items()
            if k in before and before[k] != v
        },
    }


def _bash_pattern(entry: str) -> str | None:
    """The command pattern of a Bash entry ("*" for a bare Bash), None for other tools."""
    if entry == BASH:
        return "*"
    if entry.startswith(f"{BASH}(") and entry.endswith(")"):
        pattern = entry[len(BASH) + 1 : -1].strip()
        # The CLI's prefix form "git log:*" means what the glob "git log*" does.
        return pattern[:-2] + "*" if pattern.endswith(":*") else pattern
    return None


def _covers(old: str, new: str) -> bool:
    """Whether every command the pattern `new` matches, `old` matches too. `*` is the CLI's
    only wildcard (`?` and `[` are literal there), so each `*` of `new` must fall inside a
    `*` of `old`: read `new` as text, `old` as a pattern whose `*` alone is special."""
    regex = ".*".join(re.escape(part) for part in old.split("*"))
    return re.fullmatch(regex, new, re.DOTALL) is not None


def wider_bash(before: tuple[str, ...], after: tuple[str, ...]) -> list[str]:
    """New Bash entries that match commands no earlier entry matched."""
    old = [p for p in map(_bash_pattern, before) if p is not None]
    wider = []
    for entry in after:
        pattern = _bash_pattern(entry)
        if pattern is None or entry in before:
            continue
        covered = any(_covers(o, pattern) for o in old)
        if pattern.strip() in ("*", "") or not covered:
            wider.append(entry)
    return wider


def spec_changes(
    before: AgentSpec | None, after: AgentSpec | None, prompt: tuple[int | None, int | None]
) -> dict[str, Any]:
    """The spec's keys compared, base to head (an empty spec where one is missing)."""
    old = before or AgentSpec(description="")
    new = after or AgentSpec(description="")
    return {
        "tools": _sets(old.tools_allow, new.tools_allow),
        "packages": _sets(old.packages, new.packages),
        "env": env_changes(old.env, new.env),
        "messaging": _sets(old.recipients, new.recipients),
        "container": {
            "binds": _sets(old.binds, new.binds),
            "network": {"from": old.network.value, "to": new.network.value},
        },
        "prompt_bytes": {"from": prompt[0], "to": prompt[1]},
    }


def spec_risks(before: AgentSpec | None, after: AgentSpec | None) -> list[Risk]:
    """What a reviewer must not miss: wider Bash, new tools, variables that run code, new
    packages, network and mounts."""
    old = before or AgentSpec(description="")
    new = after or AgentSpec(description="")
    risks = [
        Risk("bash_wider", f"{entry} lets the agent run commands it could not before")
        for entry in wider_bash(old.tools_allow, new.tools_allow)
    ]
    risks += [
        Risk("tool_added", f"{entry} is a tool the agent could not use before")
        for entry in new.tools_allow
        if entry not in old.tools_allow and _bash_pattern(entry) is None
    ]
    risks += [
        Risk("env_runs_code", f"{key}={_shown(key, value)} changes what programs load or reach")
        for key, value in new.env.items()
        if RUNS_CODE.fullmatch(key) and old.env.get(key) != value
    ]
    added = [p for p in new.packages if p not in old.packages]
    if added:
        risks.append(Risk("packages_added", f"installs {', '.join(added)} in the container"))
    if old.network is not new.network:
        risks.append(Risk("network_changed", f"network {old.network.value} -> {new.network.value}"))
    moved = _sets(old.binds, new.binds)
    if moved["added"] or moved["removed"]:
        risks.append(
            Risk(
                "mounts_changed",
                "container paths change: "
                + ", ".join(
                    [*(f"+{b}" for b in moved["added"]), *(f"-{b}" for b in moved["removed"])]
                ),
            )
        )
    return risks


def spec_additions(before: AgentSpec | None, after: AgentSpec | None) -> set[str]:
    """What a change grants, item by item ("tool Write", "package jq", "env KEY", ...): the
    same grant in two proposals is the same change, however it was committed."""
    old = before or AgentSpec(description="")
    new = after or AgentSpec(description="")
    found = {f"tool {t}" for t in new.tools_allow if t not in old.tools_allow}
    found |= {f"package {p}" for p in new.packages if p not in old.packages}
    found |= {f"env {k}" for k, v in new.env.items() if old.env.get(k) != v}
    found |= {f"container path {b}" for b in new.binds if b not in old.binds}
    found |= {f"may message {r}" for r in new.recipients if r not in old.recipients}
    if new.network is not old.network:
        found.add(f"network {new.network.value}")
    return found
