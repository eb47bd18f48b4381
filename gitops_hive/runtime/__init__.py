"""Runtimes: one protocol, one implementation per way of running an agent."""

from gitops_hive.runtime.base import AgentLaunch, CrashReport, Runtime

__all__ = ["AgentLaunch", "CrashReport", "Runtime"]
