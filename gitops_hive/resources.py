"""Files the package ships: the agent template, the git hooks, the prompts."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "template"
TEMPLATE_FILES = ("agent.toml", "prompt.md")
HOOK_NAMES = ("post-commit",)  # proposed/ repos
# Hooks of ours an older release installed in proposed/ repos: an install removes them. The
# reference-transaction hook ran twice on every ref update, before the ref moved too; the
# controller now sees each move itself the moment it lands.
RETIRED_HOOK_NAMES = ("reference-transaction",)
PUSH_HOOK_NAMES = ("pre-receive", "post-receive")  # hive.git and the manager's push.git


def _data_dir(name: str) -> Path:
    """`name` inside an installed wheel, else at the top of a source checkout."""
    installed = PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def hooks_dir() -> Path:
    return _data_dir("hooks")


def prompts_dir() -> Path:
    return _data_dir("prompts")


def template_files(name: str, manager: str) -> dict[str, bytes]:
    """The first commit of a new agent, with its name and the hive's manager filled in."""
    return {
        filename: (TEMPLATE_DIR / filename)
        .read_text(encoding="utf-8")
        .replace("{name}", name)
        .replace("{manager}", manager)
        .encode()
        for filename in TEMPLATE_FILES
    }
