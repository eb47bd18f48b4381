"""sqlite storage: the only package that holds SQL."""

from gitops_hive.store.db import Database

__all__ = ["Database"]
