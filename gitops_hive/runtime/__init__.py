"""Runtimes: one protocol, a registry of them by name, launchers and shared supervision."""

from gitops_hive.runtime.base import (
    AgentLaunch,
    AgentState,
    CrashReport,
    Invocation,
    Launcher,
    Runtime,
    RuntimeStatus,
)

__all__ = [
    "AgentLaunch",
    "AgentState",
    "CrashReport",
    "Invocation",
    "Launcher",
    "Runtime",
    "RuntimeStatus",
]
