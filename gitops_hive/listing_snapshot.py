"""What listings read from git, saved when the controller stops and read back when it starts,
so the first listing after a restart reads only the repos whose refs moved in between."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from gitops_hive import repos
from gitops_hive.context import HiveContext, blocking
from gitops_hive.listing import ListingCache
from gitops_hive.overrides.note import Effective

log = logging.getLogger(__name__)
VERSION = 2  # 2: a ref file's stamp holds its change time
APPLIED_FILES = (repos.MAIN, repos.MODEL_NOTES_REF)  # what the deployed commit and model come from


def save(ctx: HiveContext, cache: ListingCache) -> int:
    """Write what `cache` holds that is still true (no applied.git write since it was read),
    each applied.git under a stamp of its ref files; return how many agents were saved."""
    entries, dirs = [], []
    for entry, folders in zip(cache.entries(), cache.git_dirs(ctx, cache.names()), strict=True):
        if entry[1].stamp == repos.last_ref_write(folders[0]):  # no write here since read
            entries.append(entry)
            dirs.append(folders[0])
    stamps = repos.ref_stamps(dirs, APPLIED_FILES)
    agents = {
        name: {
            "applied": stamp,
            "deployed": applied.deployed,
            "model": [applied.model.model, applied.model.source],
            "proposed_stamp": proposed_stamp,
            "proposed": proposed,
        }
        for (name, applied, proposed_stamp, proposed), stamp in zip(entries, stamps, strict=True)
    }
    body = {"version": VERSION, "default_model": ctx.config["default_model"], "agents": agents}
    path = ctx.layout.listing_snapshot
    staging = path.with_name(path.name + ".new")
    staging.write_text(json.dumps(body))
    staging.chmod(0o600)
    os.replace(staging, path)  # a reader never sees half a file
    return len(agents)


def restore(ctx: HiveContext, cache: ListingCache, names: Sequence[str]) -> int:
    """Keep in `cache` what the saved file says of `names`, for each agent whose applied.git
    and proposed/ ref files have the same stamps now; return how many were kept."""
    try:
        body = json.loads(ctx.layout.listing_snapshot.read_text())
    except (OSError, ValueError):
        return 0  # none yet, or unreadable: the first listing reads every repo
    if body.get("version") != VERSION or body.get("default_model") != ctx.config["default_model"]:
        return 0
    saved: dict[str, Any] = body.get("agents", {})
    known = [name for name in names if name in saved]
    dirs = cache.git_dirs(ctx, known)
    applied_now = repos.ref_stamps([d[0] for d in dirs], APPLIED_FILES)
    proposed_now = repos.ref_stamps([d[1] for d in dirs], repos.PROPOSED_REFS)
    kept = 0
    for name, folders, applied, proposed in zip(
        known, dirs, applied_now, proposed_now, strict=True
    ):
        entry = saved[name]
        if _stamp(entry["applied"]) != applied or _stamp(entry["proposed_stamp"]) != proposed:
            continue  # moved since: read again
        model, source = entry["model"]
        tick = repos.last_ref_write(folders[0])
        cache.restore(
            name, entry["deployed"], Effective(model, source), entry["proposed"], (tick, proposed)
        )
        kept += 1
    return kept


def _stamp(saved: list[list[int] | None]) -> repos.RefStamp:
    return tuple(None if part is None else (part[0], part[1], part[2], part[3]) for part in saved)


async def restore_saved(ctx: HiveContext, cache: ListingCache) -> None:
    """`restore` for every agent on disk, in a thread, logged."""

    def run() -> tuple[int, int]:
        names = ctx.layout.existing_agents()
        return restore(ctx, cache, names), len(names)

    kept, agents = await blocking(run)
    log.info("listing: %d of %d agents known from the last run", kept, agents)


async def save_quietly(ctx: HiveContext, cache: ListingCache) -> None:
    """`save` in a thread; a failure is logged (the next start reads every repo, no harm)."""
    try:
        await blocking(save, ctx, cache)
    except OSError as exc:
        log.warning("listing: not saved: %s", exc)
    except Exception:  # never keep a stopping controller from closing the rest
        log.exception("listing: not saved")
