"""The run store: a RunStore protocol, SQLite (WAL, one append-only event table) and in-memory."""

from __future__ import annotations

import bisect
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from podium.core.errors import RunNotFound, StoreError
from podium.core.events import Event, EventType, RunStatus, utcnow
from podium.core.lease import LEASE_SECONDS, Lease

# Numbered migrations, applied in order; PRAGMA user_version records how many have run.
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
_INSERT = "INSERT INTO events (run_id, seq, at, type, step, attempt, data) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


_STATUS_OF: dict[EventType, RunStatus | None] = {
    EventType.RUN_WAITING: RunStatus.WAITING,
    EventType.RUN_STOPPED: RunStatus.STOPPED,
    EventType.RUN_FINISHED: None,  # the status is in the event's data
}


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A line of the runs index: enough to list runs without replaying them."""

    run_id: str
    workflow: str
    file: str | None
    file_hash: str | None
    status: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    size_bytes: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A request left for a run by another process: approve, reject or cancel."""

    kind: str
    data: dict[str, Any]
    at: datetime


@runtime_checkable
class RunStore(Protocol):
    """Where a run's events live. `append` returns only once the event is durable."""

    def append(self, event: Event) -> None: ...
    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]: ...
    def runs(self, *, limit: int | None = None, status: str | None = None) -> list[RunRecord]: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def last_seq(self, run_id: str) -> int: ...
    def lease(self, run_id: str) -> Lease: ...
    def acquire_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> Lease: ...
    def renew_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> bool: ...
    def release_lease(self, run_id: str, owner: str) -> None: ...
    def post(self, run_id: str, kind: str, data: dict[str, Any]) -> None: ...
    def take(self, run_id: str) -> list[Message]: ...
    def delete_run(self, run_id: str) -> None: ...
    def close(self) -> None: ...


def default_db_path() -> Path:
    """`$PODIUM_DB`, else `~/.podium/podium.db`."""
    env = os.environ.get("PODIUM_DB")
    return Path(env).expanduser() if env else Path.home() / ".podium" / "podium.db"


def _record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow=row[1],
        file=row[2],
        file_hash=row[3],
        status=row[4],
        started_at=datetime.fromisoformat(row[5]),
        updated_at=datetime.fromisoformat(row[6]),
        finished_at=datetime.fromisoformat(row[7]) if row[7] else None,
        size_bytes=int(row[8] or 0) if len(row) > 8 else 0,
        events=int(row[9] or 0) if len(row) > 9 else 0,
    )


def _index_update(event: Event) -> tuple[str, tuple[Any, ...]] | None:
    """The runs-index change an event implies (the index is derivable from the events)."""
    at = event.at.isoformat()
    if event.type is EventType.RUN_RESUMED:
        return (
            "UPDATE runs SET status='running', updated_at=?, finished_at=NULL WHERE run_id=?",
            (at, event.run_id),
        )
    if event.type is EventType.RUN_STARTED:
        d = event.data
        return (
            "INSERT INTO runs (run_id, workflow, file, file_hash, status, started_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET status='running', updated_at=excluded.updated_at,"
            " finished_at=NULL",
            (event.run_id, d.get("workflow", "?"), d.get("file"), d.get("file_hash"), at, at),
        )
    if event.type in _STATUS_OF:
        status = _STATUS_OF[event.type] or event.data.get("status", RunStatus.FAILED)
        finished = at if event.type is EventType.RUN_FINISHED else None
        return (
            "UPDATE runs SET status=?, updated_at=?, finished_at=? WHERE run_id=?",
            (str(status), at, finished, event.run_id),
        )
    return None


class SQLiteStore:
    """The embedded default store: SQLite in WAL mode, one transaction per event.

    WAL with ``synchronous=NORMAL`` keeps every committed event through a killed process (the
    crash podium must survive); pass ``synchronous="FULL"`` to survive power loss as well.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
            self._migrate(synchronous)
        except sqlite3.DatabaseError as exc:
            self._db.close() if hasattr(self, "_db") else None
            raise StoreError(
                f"{self.path}: cannot use this file as a podium database ({exc})",
                fix="point --db (or PODIUM_DB) at a podium database, or at a new path",
            ) from None

    def _migrate(self, synchronous: str) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            db.close()
            raise StoreError(
                f"{self.path} was written by a newer podium (schema {version};"
                f" this podium knows up to {SCHEMA_VERSION}); nothing was changed",
                fix="upgrade podium (pip install -U podium), or use another --db",
            )
        # Switching to WAL needs a moment alone with the file; SQLite reports "locked" at once
        # rather than waiting when another process is opening it too, so retry for a while.
        deadline = time.monotonic() + 30
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        for number in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("PRAGMA user_version").fetchone()[0] != number:
                    db.execute("ROLLBACK")  # another process migrated meanwhile
                    continue
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def append(self, event: Event) -> None:
        row = (
            event.run_id,
            event.seq,
            event.at.isoformat(),
            str(event.type),
            event.step,
            event.attempt,
            event.data_json(),
        )
        update = _index_update(event)
        with self._lock:
            db = self._db
            try:
                if update is None:
                    db.execute(_INSERT, row)
                    return
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute(_INSERT, row)
                    db.execute(*update)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"run {event.run_id} already has an event {event.seq}; events are append-only",
                    fix="is another process driving this run?",
                ) from None

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, seq, at, type, step, attempt, data FROM events"
                " WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
                (run_id, after, -1 if limit is None else limit),
            ).fetchall()
        return [
            Event(
                run_id=r[0],
                seq=r[1],
                at=datetime.fromisoformat(r[2]),
                type=EventType(r[3]),
                step=r[4],
                attempt=r[5],
                data=json.loads(r[6]),
            )
            for r in rows
        ]

    _RUN_COLUMNS = (
        "r.run_id, r.workflow, r.file, r.file_hash, r.status, r.started_at, r.updated_at,"
        " r.finished_at,"
        " (SELECT SUM(LENGTH(CAST(e.data AS BLOB)) + LENGTH(e.type) + 48) FROM events e"
        " WHERE e.run_id=r.run_id),"
        " (SELECT COUNT(*) FROM events e WHERE e.run_id=r.run_id)"
    )

    def runs(self, *, limit: int | None = None, status: str | None = None) -> list[RunRecord]:
        sql = f"SELECT {self._RUN_COLUMNS} FROM runs r"
        args: list[Any] = []
        if status:
            sql += " WHERE r.status=?"
            args.append(status)
        sql += " ORDER BY r.started_at DESC, r.run_id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            return [_record(r) for r in self._db.execute(sql, args).fetchall()]

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id, by a unique prefix of its id, or `latest`."""
        with self._lock:
            if run_id in ("latest", "last"):
                rows = self._db.execute(
                    f"SELECT {self._RUN_COLUMNS} FROM runs r"
                    " ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1"
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {self._RUN_COLUMNS} FROM runs r WHERE r.run_id=?", (run_id,)
                ).fetchall()
                if not rows:
                    rows = self._db.execute(
                        f"SELECT {self._RUN_COLUMNS} FROM runs r WHERE r.run_id LIKE ? ESCAPE '\\' LIMIT 2",
                        (_like_prefix(run_id),),
                    ).fetchall()
        if len(rows) == 1:
            return _record(rows[0])
        if len(rows) > 1:
            raise RunNotFound(f"'{run_id}' matches more than one run", fix="give more of the run id")
        raise RunNotFound(
            f"no run '{run_id}' in {self.path}",
            fix="list runs with `podium runs` (and check --db / PODIUM_DB)",
        )

    def last_seq(self, run_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM events WHERE run_id=?", (run_id,)).fetchone()
        return int(row[0] or 0)

    def lease(self, run_id: str) -> Lease:
        with self._lock:
            row = self._db.execute(
                "SELECT lease_owner, lease_expires FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
        return Lease(row[0], row[1]) if row else Lease(None, None)

    def acquire_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> Lease:
        """Take the run's lease if it is free, stale or ours; return whichever lease holds after."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT lease_owner, lease_expires FROM runs WHERE run_id=?", (run_id,)
                ).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    raise RunNotFound(f"no run '{run_id}' in {self.path}")
                current = Lease(row[0], row[1])
                if current.held_by_other(owner):
                    db.execute("ROLLBACK")
                    return current
                expires = time.time() + ttl
                db.execute(
                    "UPDATE runs SET lease_owner=?, lease_expires=? WHERE run_id=?",
                    (owner, expires, run_id),
                )
                db.execute("COMMIT")
                return Lease(owner, expires)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def renew_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE runs SET lease_expires=? WHERE run_id=? AND lease_owner=?",
                (time.time() + ttl, run_id, owner),
            )
        return cursor.rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET lease_owner=NULL, lease_expires=NULL WHERE run_id=? AND lease_owner=?",
                (run_id, owner),
            )

    def post(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO inbox (run_id, at, kind, data) VALUES (?, ?, ?, ?)",
                (run_id, utcnow().isoformat(), kind, json.dumps(data)),
            )

    def take(self, run_id: str) -> list[Message]:
        """The run's waiting messages, oldest first, removed from the inbox as they are taken."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT id, kind, data, at FROM inbox WHERE run_id=? ORDER BY id", (run_id,)
                ).fetchall()
                if rows:
                    db.execute("DELETE FROM inbox WHERE run_id=? AND id<=?", (run_id, rows[-1][0]))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [Message(r[1], json.loads(r[2]), datetime.fromisoformat(r[3])) for r in rows]

    def delete_run(self, run_id: str) -> None:
        """Erase a run: its events, its index line, its inbox, and any table keyed by run_id."""
        with self._lock:
            db = self._db
            tables = [
                name
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if any(col[1] == "run_id" for col in db.execute(f"PRAGMA table_info('{name}')"))
            ]
            db.execute("BEGIN IMMEDIATE")
            try:
                for name in tables:
                    db.execute(f"DELETE FROM '{name}' WHERE run_id=?", (run_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def vacuum(self) -> None:
        """Give the space of deleted runs back to the file system."""
        with self._lock:
            self._db.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class MemoryStore:
    """A store that keeps events in lists: for tests, notebooks and the benchmark baseline.

    It behaves as the SQLite store does (data copied as JSON, seq unique and ordered, the same
    errors), so code tested against it holds against SQLite.
    """

    path = Path(":memory:")

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        self._runs: dict[str, RunRecord] = {}
        self._leases: dict[str, Lease] = {}
        self._inbox: dict[str, list[Message]] = {}

    def append(self, event: Event) -> None:
        stored = replace(event, data=json.loads(event.data_json()))
        events = self._events.setdefault(event.run_id, [])
        if events and event.seq <= events[-1].seq:
            if any(e.seq == event.seq for e in events):
                raise StoreError(
                    f"run {event.run_id} already has an event {event.seq}; events are append-only",
                    fix="is another process driving this run?",
                )
            bisect.insort(events, stored, key=lambda e: e.seq)
        else:
            events.append(stored)
        old = self._runs.get(event.run_id)
        if event.type is EventType.RUN_RESUMED and old is not None:
            self._runs[event.run_id] = replace(old, status="running", updated_at=event.at, finished_at=None)
        elif event.type is EventType.RUN_STARTED:
            d = event.data
            if old is None:
                self._runs[event.run_id] = RunRecord(
                    event.run_id, d.get("workflow", "?"), d.get("file"), d.get("file_hash"),
                    "running", event.at, event.at, None,
                )  # fmt: skip
            else:
                self._runs[event.run_id] = replace(
                    old, status="running", updated_at=event.at, finished_at=None
                )
        elif event.type in _STATUS_OF and old is not None:
            status = _STATUS_OF[event.type] or event.data.get("status", RunStatus.FAILED)
            finished = event.at if event.type is EventType.RUN_FINISHED else None
            self._runs[event.run_id] = replace(
                old, status=str(status), updated_at=event.at, finished_at=finished
            )

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        found = [e for e in self._events.get(run_id, []) if e.seq > after]
        return found if limit is None else found[:limit]

    def _measured(self, record: RunRecord) -> RunRecord:
        events = self._events.get(record.run_id, [])
        size = sum(len(e.data_json().encode()) + len(str(e.type)) + 48 for e in events)
        return replace(record, size_bytes=size, events=len(events))

    def runs(self, *, limit: int | None = None, status: str | None = None) -> list[RunRecord]:
        out = [r for r in self._runs.values() if status is None or r.status == status]
        out.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
        return [self._measured(r) for r in (out[:limit] if limit else out)]

    def get_run(self, run_id: str) -> RunRecord:
        if run_id in ("latest", "last") and self._runs:
            return self.runs(limit=1)[0]
        if run_id in self._runs:
            return self._measured(self._runs[run_id])
        matches = [r for r in self._runs.values() if r.run_id.startswith(run_id)]
        if len(matches) == 1:
            return self._measured(matches[0])
        if len(matches) > 1:
            raise RunNotFound(f"'{run_id}' matches more than one run", fix="give more of the run id")
        raise RunNotFound(f"no run '{run_id}' in memory", fix="list runs with `podium runs` (and check --db)")

    def last_seq(self, run_id: str) -> int:
        events = self._events.get(run_id)
        return events[-1].seq if events else 0

    def lease(self, run_id: str) -> Lease:
        return self._leases.get(run_id, Lease(None, None))

    def acquire_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> Lease:
        if run_id not in self._runs:
            raise RunNotFound(f"no run '{run_id}' in memory")
        current = self.lease(run_id)
        if current.held_by_other(owner):
            return current
        self._leases[run_id] = Lease(owner, time.time() + ttl)
        return self._leases[run_id]

    def renew_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> bool:
        if self.lease(run_id).owner != owner:
            return False
        self._leases[run_id] = Lease(owner, time.time() + ttl)
        return True

    def release_lease(self, run_id: str, owner: str) -> None:
        if self.lease(run_id).owner == owner:
            del self._leases[run_id]

    def post(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        self._inbox.setdefault(run_id, []).append(Message(kind, json.loads(json.dumps(data)), utcnow()))

    def take(self, run_id: str) -> list[Message]:
        return self._inbox.pop(run_id, [])

    def delete_run(self, run_id: str) -> None:
        for table in (self._events, self._runs, self._leases, self._inbox):
            table.pop(run_id, None)  # type: ignore[attr-defined]

    def close(self) -> None:
        pass


def open_store(path: str | os.PathLike[str] | None = None) -> SQLiteStore:
    """The SQLite store at `path`, or at the default location."""
    return SQLiteStore(path if path is not None else default_db_path())
