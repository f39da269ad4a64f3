"""SQLite as the stores use it: one transaction helper, and the handle lent out for derived tables."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT`; any exception rolls back and goes on.

    IMMEDIATE takes the write lock at the start, so two processes never both read and then
    both write. The connection must be in autocommit mode (``isolation_level=None``).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT may already have ended it
            db.execute("ROLLBACK")
        raise


def delete_run_rows(db: sqlite3.Connection, run_id: str) -> None:
    """Delete a run's rows from every table of `db` that has a `run_id` column, atomically."""
    tables = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if any(col[1] == "run_id" for col in db.execute(f"PRAGMA table_info('{name}')"))
    ]
    with transaction(db):
        for name in tables:
            db.execute(f"DELETE FROM '{name}' WHERE run_id=?", (run_id,))


class DerivedTables:
    """A plugin's own tables in a store's database, for data derived from the events.

    `execute` and `executemany` are sqlite3's; `transaction()` makes a group of writes atomic.
    A handle may be shared by threads: each call, and each transaction as a whole, holds its lock
    (pass the lock of whoever else uses the connection).
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock | None = None) -> None:
        self._db = db
        self._lock = lock if lock is not None else threading.RLock()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        with self._lock:
            return self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[DerivedTables]:
        """Everything written inside is committed together, or (on an exception) not at all."""
        with self._lock, transaction(self._db):
            yield self
