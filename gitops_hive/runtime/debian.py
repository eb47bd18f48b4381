"""What an agent image's Debian base is made of: the mirror and suite this host's apt uses,
and the Debian packages the controller's Python needs inside a container."""

from __future__ import annotations

import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

# Every container needs these whatever its agent.toml says: `ip` sets up an outbound
# container's address, and agents (the manager first) keep their work in git repos.
HIVE_PACKAGES = ("iproute2", "git")
APT_SOURCES = Path("/etc/apt/sources.list.d")
APT_LEGACY = Path("/etc/apt/sources.list")
OS_RELEASE = Path("/etc/os-release")


def host_suite(os_release: Path = OS_RELEASE) -> str | None:
    """The codename of this host's Debian release (VERSION_CODENAME), or None."""
    if not os_release.is_file():
        return None
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip("\"'") or None
    return None


def host_mirror(sources: Path = APT_SOURCES, legacy: Path = APT_LEGACY) -> str | None:
    """The first Debian archive apt's sources name (deb822 or one-line style), or None."""
    texts = [p.read_text() for p in sorted(sources.glob("*.sources"))] if sources.is_dir() else []
    if legacy.is_file():
        texts.append(legacy.read_text())
    for text in texts:
        for line in text.splitlines():
            words = line.split()
            if words[:1] not in (["URIs:"], ["deb"]):
                continue
            for word in words[1:]:
                if "://" in word and word.rstrip("/").endswith("/debian"):
                    return word
    return None


def _shared_objects() -> list[Path]:
    """The interpreter and every extension module the harness could load."""
    roots = {Path(sys.base_prefix) / "lib", Path(sys.prefix) / "lib"}
    found = [Path(sys.executable).resolve()]
    for root in sorted(roots):
        if root.is_dir():
            found += sorted(p for p in root.rglob("*.so*") if p.is_file())
    return found


def _libraries(objects: Iterable[Path]) -> set[str]:
    """The system libraries `ldd` says these objects load."""
    done = subprocess.run(["ldd", *map(str, objects)], capture_output=True, text=True, check=False)
    libraries = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1:
            path = parts[parts.index("=>") + 1]
            if path.startswith("/") and not path.startswith(sys.base_prefix):
                libraries.add(path)
    return libraries


def _spellings(path: str) -> set[str]:
    """The names dpkg may know a library by on a merged-/usr system."""
    names = {path, os.path.realpath(path)}
    for name in list(names):
        names.add(name.removeprefix("/usr") if name.startswith("/usr/") else "/usr" + name)
    return names


def owning_packages(libraries: Iterable[str]) -> set[str]:
    """The Debian packages that own these files (dpkg-query -S; unknown files are skipped)."""
    names = sorted({name for path in libraries for name in _spellings(path)})
    if not names:
        return set()
    done = subprocess.run(["dpkg-query", "-S", *names], capture_output=True, text=True, check=False)
    packages = set()
    for line in done.stdout.splitlines():
        owners, _, _ = line.partition(": ")
        for owner in owners.split(","):
            packages.add(owner.strip().split(":")[0])
    return {p for p in packages if p}


def _fingerprint() -> str:
    """What the library scan depends on: the interpreter, its packages, dpkg's database."""
    folders = [*site.getsitepackages(), sysconfig.get_path("platstdlib"), "/var/lib/dpkg/status"]
    stamps = [(p, os.stat(p).st_mtime_ns) for p in folders if os.path.exists(p)]
    text = json.dumps([sys.executable, sys.prefix, sys.base_prefix, stamps])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def python_packages(cache: Path) -> tuple[str, ...]:
    """The Debian packages holding the libraries this Python loads, remembered in `cache`
    (scanning takes seconds) until the interpreter or its packages change."""
    remembered = cache / f"python-libs-{_fingerprint()}.json"
    try:
        return tuple(json.loads(remembered.read_text()))
    except (OSError, ValueError):
        pass
    packages = sorted(owning_packages(_libraries(_shared_objects())))
    cache.mkdir(parents=True, exist_ok=True)
    staging = remembered.with_suffix(f".{os.getpid()}.tmp")
    staging.write_text(json.dumps(packages))
    staging.rename(remembered)
    return tuple(packages)
