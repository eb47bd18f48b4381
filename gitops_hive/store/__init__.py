"""sqlite storage: the only package that holds SQL or imports aiosqlite."""

from gitops_hive.store.db import Connection, Database

__all__ = ["Connection", "Database"]
