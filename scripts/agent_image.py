"""Build the Debian base of the nspawn tests' agent images, once, in .cache/images.

`make test` runs this before pytest (building the base takes a minute or two, longer than a
test may take). It uses the mirror and suite this machine's apt already uses, and does
nothing where it cannot run (not root, no debootstrap): the nspawn tests then skip and say
why. Package names given as arguments are built as a layer too (for the benchmark).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops_hive.runtime import debian  # noqa: E402
from gitops_hive.runtime.images import ImageCache  # noqa: E402

CACHE = ROOT / ".cache" / "images"


def test_cache() -> ImageCache:
    """The image cache the tests share (`nspawn.image_cache` of their hives)."""
    return ImageCache(CACHE, debian.host_mirror() or "", debian.host_suite() or "")


async def build(packages: list[str]) -> None:
    cache = test_cache()
    started = time.monotonic()
    image = await cache.ensure(packages, lambda line: print(f"  {line}", flush=True))
    took = time.monotonic() - started
    what = "cached" if image.cached else f"built in {took:.0f} s"
    print(f"{image.base.relative_to(ROOT)}: {what}")


def main() -> int:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        print(
            "note: agent images need root and debootstrap; nspawn tests will skip", file=sys.stderr
        )
        return 0
    if debian.host_mirror() is None or debian.host_suite() is None:
        print("error: no Debian mirror or suite in apt's sources to build from", file=sys.stderr)
        return 1
    asyncio.run(build(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
