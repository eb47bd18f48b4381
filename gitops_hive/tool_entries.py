"""The grammar of a `[tools] allow` entry: a tool of the agent CLI, `Tool(specifier)` or an
MCP server's tools, as pure checks."""

from __future__ import annotations

import re

# The agent CLI's tools (Claude Code's permission names); `mcp__SERVER[__TOOL]` names an MCP
# server's tools. An entry is a tool name, or `Tool(specifier)` with balanced parentheses.
KNOWN_TOOLS = frozenset(
    {
        "Bash", "BashOutput", "KillShell", "Edit", "MultiEdit", "Write", "Read", "Glob",
        "Grep", "LS", "NotebookEdit", "NotebookRead", "WebFetch", "WebSearch", "TodoWrite",
        "Task", "ExitPlanMode", "SlashCommand", "Skill",
    }
)  # fmt: skip
TOOL_ENTRY = re.compile(r"(?P<tool>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<spec>.*)\))?", re.DOTALL)
MCP_TOOL = re.compile(r"mcp__[A-Za-z0-9_-]+(?:__[A-Za-z0-9_-]+)?")


def tool_entry_problem(entry: str) -> str | None:
    """What is wrong with one `[tools] allow` entry under the agent CLI's grammar, or None."""
    if not entry.strip():
        return 'is empty; name a tool, e.g. "Read" or "Bash(git *)"'
    if "," in entry:
        return "holds a comma; give each tool as its own entry"
    if not entry.isprintable():
        return "holds control characters"
    if entry.startswith("mcp__"):
        if MCP_TOOL.fullmatch(entry):
            return None
        return "is not mcp__SERVER or mcp__SERVER__TOOL"
    match = TOOL_ENTRY.fullmatch(entry)
    if match is None:
        return "is not a tool name or Tool(specifier) with balanced parentheses"
    if match["tool"] not in KNOWN_TOOLS:
        known = ", ".join(sorted(KNOWN_TOOLS))
        return f"{match['tool']!r} is not a tool of the agent CLI ({known}, mcp__*)"
    spec = match["spec"]
    if spec is not None:
        depth = 0
        for char in spec:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                return "has unbalanced parentheses"
        if depth:
            return "has unbalanced parentheses"
        if not spec.strip():
            return "has an empty specifier; drop the parentheses to allow the whole tool"
    return None
