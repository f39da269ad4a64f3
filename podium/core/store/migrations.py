"""The run database's schema: numbered migrations, applied in order, counted by PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from podium.core.errors import StoreError
from podium.core.store.connection import transaction

# Append only: a database made by any earlier podium is brought up to date by running the rest.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        run_id  TEXT    NOT NULL,
        seq     INTEGER NOT NULL,
        at      TEXT    NOT NULL,
        type    TEXT    NOT NULL,
        step    TEXT,
        attempt INTEGER,
        data    TEXT    NOT NULL,
        UNIQUE (run_id, seq)
    );
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        workflow    TEXT NOT NULL,
        file        TEXT,
        file_hash   TEXT,
        status      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at);
    CREATE INDEX runs_by_status ON runs (status, started_at);
    """,
    # 2: leases (who drives a run) and an inbox for decisions sent to a run another process drives
    """
    ALTER TABLE runs ADD COLUMN lease_owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_expires REAL;
    CREATE TABLE inbox (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        at     TEXT NOT NULL,
        kind   TEXT NOT NULL,
        data   TEXT NOT NULL
    );
    CREATE INDEX inbox_by_run ON inbox (run_id, id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection, path: Path) -> int:
    """How many migrations the database at `path` has had; refuse one written by a newer podium."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer podium (schema {version};"
            f" this podium knows up to {SCHEMA_VERSION}); nothing was changed",
            fix="upgrade podium (pip install -U podium), or use another --db",
        )
    return version


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Run the migrations after `version`, each in a transaction of its own with its number."""
    for number in range(version, SCHEMA_VERSION):
        with transaction(db):
            if db.execute("PRAGMA user_version").fetchone()[0] != number:
                continue  # another process migrated meanwhile
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={number + 1}")
