"""The embedded default store: SQLite in WAL mode, one append-only events table and a runs index."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from podium.core.errors import RunNotFound, StoreError
from podium.core.events import Event, EventType
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import (
    INDEXED_TYPES,
    Message,
    RunRecord,
    default_db,
    default_db_path,
    finished_twice,
    index_change,
    is_postgres_url,
    seq_taken,
    seqs_taken,
    url_scheme,
)
from podium.core.store.connection import DerivedTables, delete_run_rows, transaction
from podium.core.store.faults import store_error
from podium.core.store.index import SQLRunIndex, index_sql, read_record
from podium.core.store.migrations import (
    ALREADY_FINISHED,
    check_podium_file,
    mark_podium_file,
    migrate,
    schema_version,
)

_TYPES: dict[str, EventType] = {str(t): t for t in EventType}  # a dict lookup, not EventType(...)
# the schema a read-only open needs: the lease columns (migration 2); later ones only guard writes
READS_NEED = 2
# events read and decoded at a time by `event_rows` (a fold holds one page of them decoded)
_PAGE = 2000
_INSERT = "INSERT INTO events (run_id, seq, at, type, step, attempt, data) VALUES (?, ?, ?, ?, ?, ?, ?)"


def refused(events: Sequence[Event], exc: sqlite3.IntegrityError) -> StoreError:
    """Why the store refused to append `events`: a seq is taken, or their run already finished."""
    if ALREADY_FINISHED in str(exc):
        return finished_twice(next((e for e in events if e.type is EventType.RUN_FINISHED), events[-1]))
    return seq_taken(events[0]) if len(events) == 1 else seqs_taken(events)


def _record(row: Sequence[Any]) -> RunRecord:
    try:
        return read_record(row)
    except (TypeError, ValueError):  # bytes changed under SQLite's checks: say damaged, as SQLite would
        unreadable = "database disk image is malformed: a line of the runs index is unreadable"
        raise sqlite3.DatabaseError(unreadable) from None


class SQLiteStore(SQLRunIndex):
    """The embedded default store: SQLite in WAL mode, one transaction per batch of events.

    WAL with ``synchronous=NORMAL`` keeps every committed event through a killed process (the
    crash podium must survive); pass ``synchronous="FULL"`` to survive power loss as well.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", readonly: bool | None = None
    ) -> None:
        self.path = Path(path)
        self._in_memory = str(path) == ":memory:"
        # A file podium may not write (or in a folder it may not write: WAL needs its -wal and -shm
        # files) is opened read-only, so `runs` and `show` still work; a write says read-only.
        self.readonly = False if self._in_memory else _prepare(self.path, readonly)
        # Re-entrant: an in-memory database lends this connection, and its lock, to derived tables.
        self._lock = threading.RLock()
        try:
            self._db = self._connect()
            self._migrate(synchronous)
        except sqlite3.Error as exc:
            self._db.close() if hasattr(self, "_db") else None
            raise store_error(exc, self.path) from None
        except StoreError:
            self._db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        options = {"isolation_level": None, "check_same_thread": False, "timeout": 30}
        if not self.readonly:
            return sqlite3.connect(str(self.path), **options)  # type: ignore[arg-type]
        uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, **options)  # type: ignore[arg-type]
        try:
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
        # a WAL database whose -shm file cannot be made here (a read-only folder): nobody can be
        # writing it, so it is read as the immutable file it is
        return sqlite3.connect(uri + "&immutable=1", uri=True, **options)  # type: ignore[arg-type]

    def _migrate(self, synchronous: str) -> None:
        db = self._db
        version = schema_version(db, self.path)
        unmarked = False if self._in_memory else check_podium_file(db, self.path)
        if self.readonly:
            if version < READS_NEED:
                raise StoreError(
                    f"{self.path} was made by an older podium and must be upgraded, but it is read-only",
                    fix=f"make it and its folder writable (chmod u+w {self.path} {self.path.parent}) once",
                )
            return
        # Set before the switch to WAL too: switching a new file is a rollback-journal
        # transaction, then synced as asked rather than at SQLite's default (FULL: one fsync more).
        db.execute(f"PRAGMA synchronous={synchronous}")
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
        if unmarked:
            mark_podium_file(db)
        migrate(db, version)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The store's connection in one `BEGIN IMMEDIATE` transaction, under the store's lock.

        The block's writes are committed together when it ends; an exception rolls them all back.
        """
        with self._lock, transaction(self._db) as db:
            yield db

    def append(self, event: Event) -> None:
        self.append_many([(event, event.data_json())])

    def append_many(self, batch: Sequence[tuple[Event, str]]) -> None:
        """Write events, each with its data already encoded as JSON, in one transaction.

        All of them are durable when this returns, or (on an error) none of them.
        """
        rows = [
            (e.run_id, e.seq, e.at.isoformat(), str(e.type), e.step, e.attempt, text) for e, text in batch
        ]
        # most batches change no index line: only a run's start, wait, stop, resume and end do
        changes = [c for e, _ in batch if e.type in INDEXED_TYPES and (c := index_change(e)) is not None]
        db = self._db
        try:
            with self._lock:
                if len(rows) == 1 and not changes:  # one statement: atomic without a transaction
                    db.execute(_INSERT, rows[0])
                    return
                # `transaction` inlined (a chain commits ~2 batches a step): BEGIN IMMEDIATE …
                # COMMIT, and any error rolls the whole batch back
                db.execute("BEGIN IMMEDIATE")
                try:
                    if len(rows) == 1:
                        db.execute(_INSERT, rows[0])
                    else:
                        db.executemany(_INSERT, rows)
                    for change in changes:
                        db.execute(*index_sql(change))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # a failed COMMIT may already have ended it
                        db.execute("ROLLBACK")
                    raise
        except sqlite3.IntegrityError as exc:
            raise refused([e for e, _ in batch], exc) from None

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        types = _TYPES
        parse = datetime.fromisoformat
        return [
            Event(run_id, seq, types[type_], step, attempt, data, parse(at))
            for seq, at, type_, step, attempt, data in self.event_rows(run_id, after=after, limit=limit)
        ]

    def event_rows(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, str, str, str | None, int | None, Any]]:
        """The run's events as `(seq, at, type, step, attempt, data)`: `at` and `type` as stored
        (text), `data` decoded. What `replay.RunFold` reads, without an Event per row.

        Read and decoded a page at a time (`_PAGE` rows, each page's data in one `json.loads` over
        them as one array: a call per row costs twice the decoding itself), so a fold over a long
        run never holds all its events decoded at once (40,002 for 10,000 steps: ~25 MiB).
        """
        left = -1 if limit is None else limit
        while left != 0:
            page = _PAGE if left < 0 else min(left, _PAGE)
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, at, type, step, attempt, data FROM events"
                    " WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
                    (run_id, after, page),
                ).fetchall()
            if not rows:
                return
            datas = json.loads("[" + ",".join([r[5] for r in rows]) + "]")
            for r, data in zip(rows, datas, strict=True):
                yield r[0], r[1], r[2], r[3], r[4], data
            if len(rows) < page:
                return
            after = rows[-1][0]
            if left > 0:
                left -= len(rows)

    _RUN_COLUMNS = (
        "r.run_id, r.workflow, r.file, r.file_hash, r.status, r.started_at, r.updated_at,"
        " r.finished_at,"
        " (SELECT SUM(LENGTH(CAST(e.data AS BLOB)) + LENGTH(e.type) + 48) FROM events e"
        " WHERE e.run_id=r.run_id),"
        " (SELECT COUNT(*) FROM events e WHERE e.run_id=r.run_id)"
    )

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(args)).fetchall())

    def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            return int(self._db.execute(sql, tuple(args)).rowcount)

    def _record(self, row: Sequence[Any]) -> RunRecord:
        return _record(row)

    def last_seq(self, run_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM events WHERE run_id=?", (run_id,)).fetchone()
        return int(row[0] or 0)

    def acquire_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> Lease:
        """Take the run's lease if it is free, stale or ours; return whichever lease holds after."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT lease_owner, lease_expires FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFound(f"no run '{run_id}' in {self.path}")
            current = Lease(row[0], row[1])
            if current.held_by_other(owner):
                return current  # nothing written: the commit is empty
            expires = time.time() + ttl
            db.execute(
                "UPDATE runs SET lease_owner=?, lease_expires=? WHERE run_id=?",
                (owner, expires, run_id),
            )
            return Lease(owner, expires)

    def take(self, run_id: str) -> list[Message]:
        """The run's waiting messages, oldest first, removed from the inbox as they are taken."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, kind, data, at FROM inbox WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
            if rows:
                db.execute("DELETE FROM inbox WHERE run_id=? AND id<=?", (run_id, rows[-1][0]))
        return [Message(r[1], json.loads(r[2]), datetime.fromisoformat(r[3])) for r in rows]

    def delete_run(self, run_id: str) -> None:
        """Erase a run: its events, its index line, its inbox, and any table keyed by run_id."""
        with self._lock:
            delete_run_rows(self._db, run_id)

    def derived_tables(self) -> AbstractContextManager[DerivedTables]:
        """A plugin's derived tables, in this database (see `RunStore`).

        A file gets a connection of its own for the block, so a long read there never holds
        this store's lock; an in-memory database has only this connection, so it lends it.
        """
        if self._in_memory:
            return nullcontext(DerivedTables(self._db, self._lock))
        return self._own_connection()

    @contextmanager
    def _own_connection(self) -> Iterator[DerivedTables]:
        db = self._connect()
        try:
            yield DerivedTables(db)
        finally:
            db.close()

    def vacuum(self) -> None:
        """Give the space of deleted runs back to the file system."""
        with self._lock:
            self._db.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _prepare(path: Path, readonly: bool | None) -> bool:
    """Make a new database file user-only (its folder too, if podium makes it); True when the
    file must be opened read-only (asked for, or podium may not write it or its folder)."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file", fix="give --db a file path")
    if path.exists():
        if readonly is not None:
            return readonly
        return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    if readonly:
        raise StoreError(f"there is no run database at {path}", fix="check --db (or PODIUM_DB)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # created here, user-only, before SQLite opens it (its -wal and -shm files take its mode)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process made it meanwhile
    except OSError as exc:
        what = "folder" if not path.parent.is_dir() else "file"
        raise StoreError(
            f"cannot create the run database {path}: its {what} cannot be made"
            f" ({exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''})",
            fix="point --db (or PODIUM_DB) at a writable place, or create the folder and make it writable",
        ) from None
    return False


def open_store(path: str | os.PathLike[str] | None = None) -> Any:
    """The store `path` names (else `$PODIUM_DB`, else ~/.podium/podium.db): a SQLite file, or a
    PostgreSQL database for a `postgresql://` URL (the `podium[postgres]` extra). A HOME that is not
    there is bad input: podium makes its own folder in it, not the home itself."""
    if path is None and not os.environ.get("PODIUM_DB") and not Path.home().is_dir():
        raise StoreError(
            f"the home folder {Path.home()} does not exist, so the run database"
            f" {default_db_path()} cannot be made",
            fix="set HOME to an existing folder, or give the database's path: --db FILE or PODIUM_DB=FILE",
        )
    target: str | os.PathLike[str] = path if path is not None else default_db()
    if is_postgres_url(target):
        from podium.core.store.postgres import PostgresStore

        return PostgresStore(str(target))
    if (scheme := url_scheme(target)) is not None:
        # not a path: `mysql://h/db` would otherwise become the folders mysql:/h/db
        if scheme.lower() == "sqlite":
            fix = f"give the file's path itself: --db {target.split('://', 1)[1] or 'runs.db'}"
        else:
            fix = "give a SQLite file path (--db runs.db) or a postgresql:// URL"
        raise StoreError(f"{target}: podium cannot keep runs in a {scheme}:// database", fix=fix)
    return SQLiteStore(target)
