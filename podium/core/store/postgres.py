"""The store for teams: the same events, runs index, leases and inbox as SQLite, in PostgreSQL.

Chosen by a `postgresql://` (or `postgres://`) URL as `--db` or `PODIUM_DB`, and shipped as the
extra `podium[postgres]` (psycopg 3, imported only when such a URL is used). Semantics match the
SQLite store's: an event is committed before `append` returns, `(run_id, seq)` is unique, so a
second writer of the same seq fails instead of forking the log, and a lease is taken in one
transaction with the run's index line locked. Plugins' derived tables (the cost ledger, trace
files) live in the same database, through `DerivedTables` over psycopg.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from podium.core.errors import ExtraMissing, RunNotFound, StoreError
from podium.core.events import Event, EventType
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import (
    Message,
    finished_twice,
    index_change,
    is_postgres_url,
    seq_taken,
    seqs_taken,
)
from podium.core.store.index import SQLRunIndex, index_sql
from podium.core.store.migrations import ALREADY_FINISHED

if TYPE_CHECKING:
    import psycopg

_TYPES: dict[str, EventType] = {str(t): t for t in EventType}
__all__ = ["PostgresStore", "PostgresTables", "is_postgres_url", "shown_url"]
_INSERT = (
    "INSERT INTO events (run_id, seq, at, type, step, attempt, data) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)

# Append only, as SQLite's MIGRATIONS: a database made by any earlier podium runs the rest.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            run_id  TEXT    NOT NULL,
            seq     INTEGER NOT NULL,
            at      TEXT    NOT NULL,
            type    TEXT    NOT NULL,
            step    TEXT,
            attempt INTEGER,
            data    TEXT    NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE runs (
            run_id        TEXT PRIMARY KEY,
            workflow      TEXT NOT NULL,
            file          TEXT,
            file_hash     TEXT,
            status        TEXT NOT NULL,
            started_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL,
            finished_at   TEXT,
            lease_owner   TEXT,
            lease_expires DOUBLE PRECISION
        )""",
        "CREATE INDEX runs_by_workflow ON runs (workflow, started_at)",
        "CREATE INDEX runs_by_status ON runs (status, started_at)",
        """CREATE TABLE inbox (
            id     BIGSERIAL PRIMARY KEY,
            run_id TEXT NOT NULL,
            at     TEXT NOT NULL,
            kind   TEXT NOT NULL,
            data   TEXT NOT NULL
        )""",
        "CREATE INDEX inbox_by_run ON inbox (run_id, id)",
    ),
    # 2: a run finishes once per attempt, as in SQLite's migration 3: a RunFinished is refused when
    # the run's last RunFinished or RunResumed is a RunFinished. The advisory lock makes two
    # writers of one run's RunFinished take turns, so the second sees the first's.
    (
        "CREATE INDEX events_run_ends ON events (run_id, seq) WHERE type IN ('RunFinished', 'RunResumed')",
        """CREATE FUNCTION podium_finish_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext(NEW.run_id));
            IF (SELECT type FROM events
                WHERE run_id = NEW.run_id AND type IN ('RunFinished', 'RunResumed')
                ORDER BY seq DESC LIMIT 1) = 'RunFinished' THEN
                RAISE EXCEPTION 'podium: the run has already finished';
            END IF;
            RETURN NEW;
        END
        $$""",
        """CREATE TRIGGER events_finish_once BEFORE INSERT ON events
        FOR EACH ROW WHEN (NEW.type = 'RunFinished') EXECUTE FUNCTION podium_finish_once()""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# two podium processes migrating one database at once: the second waits for the first
_MIGRATION_LOCK = 0x706F6469  # "podi"


def shown_url(url: str) -> str:
    """`url` without its password, for messages (`postgresql://ann@db:5432/podium`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    # built by hand: urlunsplit drops the `//` of an empty host (a unix socket's URL)
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    return f"{parts.scheme}://{user}{host}{port}{rest}"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ExtraMissing(
            "a postgresql:// database needs psycopg, which is not installed",
            fix="pip install 'podium[postgres]'",
        ) from None
    return psycopg


class PostgresStore(SQLRunIndex):
    """Runs in PostgreSQL: one connection per store, autocommit, a transaction where a write is several.

    `path` is the URL without its password: what messages and `podium show` name as the store.
    Durability matches the SQLite store's: every event survives a killed podium process; pass
    ``synchronous="FULL"`` to also wait, per commit, for the server's log to reach its disk.
    """

    def __init__(self, url: str, *, synchronous: str = "NORMAL", connect_timeout: float = 10) -> None:
        psycopg = _psycopg()
        self.url = url
        self.path = shown_url(url)
        self._lock = threading.RLock()
        try:
            self._db: psycopg.Connection[Any] = psycopg.connect(
                url, autocommit=True, connect_timeout=max(1, int(connect_timeout))
            )
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot connect to the database {self.path}: {_reason(exc, url)}",
                fix="check the URL's host, port, user and database, that the server runs, and the"
                " password (put it in PGPASSWORD or ~/.pgpass rather than the URL)",
            ) from None
        # As SQLite's synchronous=NORMAL: a commit is in the server before `append` returns, so a
        # killed podium loses nothing; the server flushes its log a moment later, so a crash of the
        # database machine itself may lose the last moment. FULL waits for the flush (power-safe).
        self._db.execute("SET synchronous_commit TO " + ("on" if synchronous.upper() == "FULL" else "off"))
        self._migrate()

    # --- schema -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self._db
        with self._lock, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS podium_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM podium_meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer podium (schema {version}; this podium knows up"
                    f" to {SCHEMA_VERSION}); nothing was changed",
                    fix="upgrade podium (pip install -U 'podium[postgres]'), or use another --db",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
            if version != SCHEMA_VERSION:
                db.execute(
                    "INSERT INTO podium_meta (key, value) VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                    (str(SCHEMA_VERSION),),
                )

    # --- events -------------------------------------------------------------------------------

    def append(self, event: Event) -> None:
        self.append_many([(event, event.data_json())])

    def append_many(self, batch: Sequence[tuple[Event, str]]) -> None:
        """Write events, each with its data already encoded as JSON, in one transaction.

        All of them are committed when this returns, or (on an error) none of them.
        """
        rows = [
            (e.run_id, e.seq, e.at.isoformat(), str(e.type), e.step, e.attempt, text) for e, text in batch
        ]
        changes = [c for c in map(index_change, (e for e, _ in batch)) if c is not None]
        psycopg = _psycopg()
        try:
            with self._lock:
                if len(rows) == 1 and not changes:  # one statement: atomic without a transaction
                    self._db.execute(_INSERT, rows[0])
                    return
                with self._db.transaction():
                    with self._db.cursor() as cursor:
                        cursor.executemany(_INSERT, rows)
                    for change in changes:
                        sql, args = index_sql(change)
                        self._db.execute(sql.replace("?", "%s"), args)
        except psycopg.errors.UniqueViolation:
            events = [e for e, _ in batch]
            raise (seq_taken(events[0]) if len(events) == 1 else seqs_taken(events)) from None
        except psycopg.errors.RaiseException as exc:
            if ALREADY_FINISHED in str(exc):
                events = [e for e, _ in batch]
                ending = next((e for e in events if e.type is EventType.RUN_FINISHED), events[-1])
                raise finished_twice(ending) from None
            raise

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, seq, at, type, step, attempt, data FROM events"
                " WHERE run_id=%s AND seq>%s ORDER BY seq LIMIT %s",
                (run_id, after, limit),
            ).fetchall()
        datas = json.loads("[" + ",".join([r[6] for r in rows]) + "]") if rows else []
        parse = datetime.fromisoformat
        return [
            Event(r[0], r[1], _TYPES[r[3]], r[4], r[5], data, parse(r[2]))
            for r, data in zip(rows, datas, strict=True)
        ]

    def last_seq(self, run_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM events WHERE run_id=%s", (run_id,)).fetchone()
        return int(row[0] or 0) if row else 0

    # --- the runs index -----------------------------------------------------------------------

    _RUN_COLUMNS = (
        "r.run_id, r.workflow, r.file, r.file_hash, r.status, r.started_at, r.updated_at, r.finished_at,"
        " (SELECT SUM(octet_length(e.data) + length(e.type) + 48) FROM events e WHERE e.run_id=r.run_id),"
        " (SELECT COUNT(*) FROM events e WHERE e.run_id=r.run_id)"
    )

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self._lock:
            return list(self._db.execute(sql.replace("?", "%s"), tuple(args)).fetchall())

    def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            return int(self._db.execute(sql.replace("?", "%s"), tuple(args)).rowcount)

    # --- leases -------------------------------------------------------------------------------

    def acquire_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> Lease:
        """Take the run's lease if it is free, stale or ours; return whichever lease holds after.

        The index line is locked (`FOR UPDATE`) for the decision, so two processes racing for one
        run cannot both win.
        """
        with self._lock, self._db.transaction():
            row = self._db.execute(
                "SELECT lease_owner, lease_expires FROM runs WHERE run_id=%s FOR UPDATE", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFound(f"no run '{run_id}' in {self.path}")
            current = Lease(row[0], row[1])
            if current.held_by_other(owner):
                return current
            expires = time.time() + ttl
            self._db.execute(
                "UPDATE runs SET lease_owner=%s, lease_expires=%s WHERE run_id=%s", (owner, expires, run_id)
            )
            return Lease(owner, expires)

    def take(self, run_id: str) -> list[Message]:
        """The run's waiting messages, oldest first, removed from the inbox as they are taken."""
        with self._lock, self._db.transaction():
            rows = self._db.execute(
                "DELETE FROM inbox WHERE run_id=%s RETURNING id, kind, data, at", (run_id,)
            ).fetchall()
        rows.sort(key=lambda r: r[0])
        return [Message(r[1], json.loads(r[2]), datetime.fromisoformat(r[3])) for r in rows]

    # --- deleting, derived tables -------------------------------------------------------------

    def delete_run(self, run_id: str) -> None:
        """Erase a run: its events, its index line, its inbox, and any table keyed by run_id."""
        with self._lock, self._db.transaction():
            tables = [
                name
                for (name,) in self._db.execute(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND column_name = 'run_id'"
                ).fetchall()
            ]
            for name in tables:
                self._db.execute(f'DELETE FROM "{name}" WHERE run_id=%s', (run_id,))

    def derived_tables(self) -> AbstractContextManager[PostgresTables]:
        """A plugin's derived tables in this database (see `RunStore`), on this store's connection."""
        return _lent(PostgresTables(self._db, self._lock))

    def vacuum(self) -> None:
        """Give the space of deleted runs back (`VACUUM` runs outside any transaction)."""
        with self._lock:
            self._db.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def _lent(tables: PostgresTables) -> Iterator[PostgresTables]:
    yield tables


def _reason(exc: Exception, url: str) -> str:
    """The driver's message, first line, with the URL's password taken out wherever it appears."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


class PostgresTables:
    """`DerivedTables` over psycopg: the same `execute`, `executemany` and `transaction()`.

    Plugins write portable SQL with `?` placeholders (SQLite's); each becomes `%s` here. Statements
    must use no `?` or `%` of their own outside parameters, which podium's derived tables do not.
    """

    def __init__(self, db: psycopg.Connection[Any], lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._db.execute(self._sql(sql), tuple(params))  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        with self._lock:
            cursor = self._db.cursor()
            cursor.executemany(self._sql(sql), [tuple(r) for r in rows])  # type: ignore[arg-type]
            return cursor

    @contextmanager
    def transaction(self) -> Iterator[PostgresTables]:
        """Everything written inside is committed together, or (on an exception) not at all."""
        with self._lock, self._db.transaction():
            yield self
