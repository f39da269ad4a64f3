"""The run store: where a run's events live, durably; SQLite by default, in memory for tests."""

from __future__ import annotations

from podium.core.store.base import Message, RunRecord, RunStore, default_db_path
from podium.core.store.connection import DerivedTables
from podium.core.store.memory import MemoryStore
from podium.core.store.migrations import MIGRATIONS, SCHEMA_VERSION
from podium.core.store.sqlite import SQLiteStore, open_store

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DerivedTables",
    "MemoryStore",
    "Message",
    "RunRecord",
    "RunStore",
    "SQLiteStore",
    "default_db_path",
    "open_store",
]
