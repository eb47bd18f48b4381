"""gitops-hive: a git-native GitOps controller for a hive of AI agents."""

__version__ = "0.1.0"
