"""The system prompt the harness gives the agent CLI: the shared prompt of its role, then the
agent's own prompt.md."""

from __future__ import annotations

from pathlib import Path

from gitops_hive.protocol import MANAGER_ROLE

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def prompts_dir() -> Path:
    """prompts/ inside an installed wheel (gitops_hive/_data), else at the top of a checkout."""
    installed = PACKAGE_DIR / "_data" / "prompts"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "prompts"


def system_prompt(role: str, tree: Path) -> str:
    """prompts/manager.md or prompts/agent.md, then the agent's own prompt.md."""
    shared_file = prompts_dir() / ("manager.md" if role == MANAGER_ROLE else "agent.md")
    shared = shared_file.read_text()
    own_file = tree / "prompt.md"
    own = own_file.read_text(encoding="utf-8", errors="replace") if own_file.is_file() else ""
    return f"{shared.rstrip()}\n\n# Your own instructions\n\n{own.strip()}\n"
