"""The run database's schema: numbered migrations, applied in order, counted by PRAGMA user_version."""

from __future__ import annotations

import functools
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
    # 3: a run finishes once per attempt: a RunFinished is refused when the run's last RunFinished or
    # RunResumed is a RunFinished, whoever appends it (two processes driving one run would both
    # finish it). The partial index holds only those two rare types: ordinary appends write nothing
    # to it, and the check is a lookup, not a scan of the run's events.
    """
    CREATE INDEX events_run_ends ON events (run_id, seq) WHERE type IN ('RunFinished', 'RunResumed');
    CREATE TRIGGER events_finish_once BEFORE INSERT ON events
    WHEN NEW.type = 'RunFinished' AND (
        SELECT type FROM events
        WHERE run_id = NEW.run_id AND type IN ('RunFinished', 'RunResumed')
        ORDER BY seq DESC LIMIT 1
    ) = 'RunFinished'
    BEGIN
        SELECT RAISE(ABORT, 'podium: the run has already finished');
    END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# The message of the trigger above, as sqlite3.IntegrityError carries it.
ALREADY_FINISHED = "podium: the run has already finished"

# `PRAGMA application_id` of a podium database ("PDM1"): set when podium creates one, checked on
# open, so `--db` pointed at another application's SQLite file is refused, not taken over.
APPLICATION_ID = 0x50444D31


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


def statements(script: str) -> list[str]:
    """A migration's SQL statements, whole (a trigger's body has semicolons of its own)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


@functools.lru_cache(maxsize=len(MIGRATIONS))
def _statements_of(number: int) -> tuple[str, ...]:
    """Migration `number`'s statements, split once per process (every new file runs them all)."""
    return tuple(statements(MIGRATIONS[number]))


def check_podium_file(db: sqlite3.Connection, path: Path) -> bool:
    """Refuse a SQLite file that is not podium's; True when it is podium's but not yet marked.

    A file marked with podium's `application_id` is podium's. An unmarked one is podium's when it
    is empty (podium is about to create it) or when it holds the tables of an earlier podium,
    which marked nothing: those are adopted. Anything else belongs to another application.
    """
    # One read transaction: another process creating the same new file marks it, makes its tables
    # and sets its version meanwhile; read apart, an empty id with tables but no version (or a
    # version but no tables) looked like another application's file.
    db.execute("BEGIN")
    try:
        app = int(db.execute("PRAGMA application_id").fetchone()[0])
        tables = sorted(name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.execute("COMMIT")
    if app == APPLICATION_ID:
        return False
    if app == 0 and not tables and version == 0:
        return True
    earlier = {"events", "runs"} <= set(tables) and version >= 1
    if app == 0 and earlier:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        earlier = {"run_id", "seq", "type", "data"} <= columns
    if app == 0 and earlier:
        return True
    shown = ", ".join(tables[:6]) + (", …" if len(tables) > 6 else "")
    whose = f"application_id {app:#x}" if app else f"tables: {shown or 'none'}"
    raise StoreError(
        f"{path} is a SQLite database, but not podium's ({whose}); nothing was changed",
        fix="point --db (or PODIUM_DB) at a podium database, or at a new path",
    )


def mark_podium_file(db: sqlite3.Connection) -> None:
    """Set podium's `application_id` on the file (a new one, or one an earlier podium made)."""
    with transaction(db):
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Run the migrations after `version`, each in a transaction of its own with its number."""
    for number in range(version, SCHEMA_VERSION):
        with transaction(db):
            if db.execute("PRAGMA user_version").fetchone()[0] != number:
                continue  # another process migrated meanwhile
            for statement in _statements_of(number):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={number + 1}")
