"""Agent images under nspawn: a cached Debian base, and one layer per package set on top.

The base is `debootstrap --variant=minbase` of a suite from a mirror, with the packages the
controller's Python and the hive need; it is keyed by (suite, mirror, packages). A layer is
what `apt-get install` adds to the base, kept as an overlayfs upper directory and keyed by
the base and the sorted package set, so an unchanged set costs a folder lookup. Builds run
in a mount namespace of their own (nothing stays mounted on the host if one is killed), a
file lock per key keeps two builds of one key apart, and a build is renamed into place
whole, so the cache never holds half an image.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_hive.errors import RuntimeFailure
from gitops_hive.runtime import debian
from gitops_hive.runtime.build_steps import (
    Progress,
    drop,
    in_container,
    install_script,
    private_mounts,
    run_step,
)

LISTS_FRESH = 24 * 3600.0  # older package lists are refreshed before a layer installs
# What a layer need not keep: package lists and downloads, apt's logs, the build's resolver.
LAYER_DROPS = ("var/lib/apt/lists", "var/cache/apt", "var/log", "etc/resolv.conf")
STAGING = ".staging"  # a build's folder until it is renamed into the cache


@dataclass(frozen=True)
class Image:
    """The folders an agent's root is made of: the base and, for extra packages, a layer."""

    base: Path
    layer: Path | None
    packages: tuple[str, ...]
    cached: bool  # nothing was built for it just now

    def lowers(self, inside: str) -> list[Path]:
        """The image's folders for the container path `inside`, lowest first."""
        relative = inside.strip("/")
        found = [self.base / relative]
        if self.layer is not None and (self.layer / relative).is_dir():
            found.append(self.layer / relative)
        return found

    def holds(self, path: Path) -> bool:
        """Whether the image has a file at this absolute container path."""
        relative = str(path).lstrip("/")
        tops = [self.base] if self.layer is None else [self.layer, self.base]
        return any((top / relative).exists() for top in tops)


def installed(root: Path) -> set[str]:
    """The packages dpkg's status file in `root` says are installed."""
    status = root / "var" / "lib" / "dpkg" / "status"
    found, name = set(), ""
    for line in status.read_text(errors="replace").splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1].strip()
        elif line.startswith("Status: ") and line.endswith(" installed"):
            found.add(name)
    return found


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> bool:
    prefix = str(path.resolve()).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4].startswith(prefix) for line in mounts)


def remove_staging(staging: Path) -> None:
    """Remove a half-made build; never through a mount (builds mount in their own namespace,
    so one here is not ours to remove), and never a folder that is not a staging folder."""
    if not staging.name.endswith(STAGING):
        raise RuntimeFailure(f"{staging} is not an image build's staging folder")
    if not staging.exists():
        return
    if _mounts_under(staging):
        raise RuntimeFailure(f"{staging} has mounts inside; unmount them, then retry the build")
    shutil.rmtree(staging)


class ImageCache:
    """Bases and layers in one folder, built on first need and reused after."""

    def __init__(self, folder: Path, mirror: str, suite: str) -> None:
        self.folder = folder
        self.mirror = mirror
        self.suite = suite

    def base_packages(self) -> tuple[str, ...]:
        """What the base holds besides minbase: the hive's tools and Python's libraries."""
        libraries = debian.python_packages(self.folder)
        return tuple(sorted({*debian.HIVE_PACKAGES, *libraries}))

    def base_path(self, include: Sequence[str]) -> Path:
        return self.folder / f"base-{_key(self.suite, self.mirror, sorted(include))}"

    async def ensure(self, packages: Sequence[str], progress: Progress) -> Image:
        """The image for this package set: from the cache, else built (progress as it goes)."""
        if not self.mirror or not self.suite:
            raise RuntimeFailure(
                "no Debian mirror or suite to build agent images from: set nspawn.mirror and "
                "nspawn.suite in hive.toml"
            )
        include = await asyncio.to_thread(self.base_packages)
        base = self.base_path(include)
        built_base = await self._once(
            base, lambda stage, target: self._base(stage, target, include, progress)
        )
        wanted = tuple(sorted(set(packages)))
        extra = [p for p in wanted if p not in await asyncio.to_thread(installed, base)]
        if not extra:
            if wanted:
                progress(f"image: {', '.join(wanted)} already in the base")
            return Image(base, None, wanted, cached=not built_base)
        layer = self.folder / f"layer-{_key(base.name, wanted)}"
        built = await self._once(
            layer, lambda stage, target: self._layer(stage, target, base, extra, progress)
        )
        if not built:
            progress(f"image: {', '.join(wanted)} from the cache ({layer.name})")
        return Image(base, layer, wanted, cached=not (built or built_base))

    async def _once(self, target: Path, make: Callable[[Path, Path], Awaitable[None]]) -> bool:
        """Build `target` unless it is there; True when this call built it."""
        if target.is_dir():
            return False
        lock = self.folder / f"{target.name}.lock"
        async with _Held(lock):
            if target.is_dir():  # another build of the same key finished meanwhile
                return False
            staging = target.with_name(target.name + STAGING)
            await asyncio.to_thread(remove_staging, staging)
            staging.mkdir(parents=True)
            try:
                await make(staging, target)
            except BaseException:
                await asyncio.to_thread(remove_staging, staging)
                raise
        return True

    async def _base(
        self, staging: Path, target: Path, include: Sequence[str], progress: Progress
    ) -> None:
        root = staging / "root"
        progress(f"image: debootstrap {self.suite} from {self.mirror} (once, a minute or two)")
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(include)}",
            self.suite,
            str(root),
            self.mirror,
        ]
        await run_step(private_mounts(argv), "debootstrap", progress)
        await run_step(in_container(root, "apt-get -q update"), "apt-get update", progress)
        drop(root, ("var/cache/apt", "var/log"))
        root.rename(target)
        await asyncio.to_thread(remove_staging, staging)

    async def _layer(
        self, staging: Path, target: Path, base: Path, packages: Sequence[str], progress: Progress
    ) -> None:
        upper, work, merged = staging / "upper", staging / "work", staging / "merged"
        for folder in (upper, work, merged):
            folder.mkdir()
        lists = base / "var" / "lib" / "apt" / "lists"
        stale = time.time() - lists.stat().st_mtime > LISTS_FRESH
        names = " ".join(packages)
        script = ("apt-get -q update && " if stale else "") + install_script(packages)
        progress(f"image: apt-get install {names}")
        mount = (
            f"mount -t overlay overlay -o lowerdir={base},upperdir={upper},workdir={work} "
            f'{merged} && exec "$@"'
        )
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount, "sh"]
        await run_step([*argv, *in_container(merged, script)], "apt-get install", progress)
        drop(upper, LAYER_DROPS)
        for inside in ("usr", "etc", "var/lib"):
            (upper / inside).mkdir(parents=True, exist_ok=True)
        upper.rename(target)
        await asyncio.to_thread(remove_staging, staging)


class _Held:
    """An exclusive flock on a file, taken off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._context: contextlib.AbstractContextManager[None] | None = None

    async def __aenter__(self) -> None:
        context = self._context = _locked(self.path)
        taking = asyncio.get_running_loop().run_in_executor(None, context.__enter__)
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:  # the thread may take it still: let go once it has
            taking.add_done_callback(lambda _: context.__exit__(None, None, None))
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self._context is not None
        self._context.__exit__(None, None, None)
