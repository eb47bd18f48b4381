"""agent.toml and prompt.md of a pinned commit, read from the trusted applied.git."""

from __future__ import annotations

from pathlib import Path

from gitops_hive import repos
from gitops_hive.context import blocking
from gitops_hive.spec import SPEC_FILE, AgentSpec, validate_spec


async def spec_at(applied: Path, sha: str | None) -> tuple[AgentSpec | None, int | None]:
    """agent.toml (None if missing or invalid) and prompt.md's size at `sha` (None: no sha)."""
    if sha is None:
        return None, None
    text = await blocking(repos.read_blob, applied, sha, SPEC_FILE)
    prompt = await blocking(repos.read_blob, applied, sha, "prompt.md")
    spec = validate_spec(text.decode("utf-8", "replace"))[0] if text is not None else None
    return spec, len(prompt) if prompt is not None else 0
