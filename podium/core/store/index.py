"""The runs table and the inbox as SQL, for the SQL stores: listing runs, finding one by id, prefix
or `latest`, renewing and releasing a lease, posting a message.

SQLite's and PostgreSQL's stores share these statements; each gives its own `_RUN_COLUMNS` (a run's
size is measured in each database's own words), runs a query with `_rows` and a write with `_write`
(placeholders written `?`), and reads a row with `_record`. Taking a lease and the inbox's `take`
stay each store's own: they lock differently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from podium.core.errors import RunNotFound
from podium.core.events import utcnow
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import IndexChange, RunRecord, recent_runs_fix

LATEST = ("latest", "last")


def like_prefix(text: str) -> str:
    """`text` as a LIKE pattern matching what starts with it, literally (`_ % \\` escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def read_record(row: Sequence[Any]) -> RunRecord:
    """A runs-index row (with its size and event count) as a RunRecord."""
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


def index_sql(change: IndexChange) -> tuple[str, tuple[Any, ...]]:
    """An index change as SQL (`?` placeholders): a RunStarted adds the run's line (or reopens it),
    others update it."""
    at = change.updated_at.isoformat()
    finished = change.finished_at.isoformat() if change.finished_at else None
    if change.new is not None:
        new = change.new
        return (
            "INSERT INTO runs (run_id, workflow, file, file_hash, status, started_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at,"
            " finished_at=NULL",
            (new.run_id, new.workflow, new.file, new.file_hash, new.status, at, at),
        )
    return (
        "UPDATE runs SET status=?, updated_at=?, finished_at=? WHERE run_id=?",
        (change.status, at, finished, change.run_id),
    )


class SQLRunIndex:
    """The runs index, leases and inbox of a store whose tables are SQL (`runs`, `inbox`)."""

    _RUN_COLUMNS: ClassVar[str]
    path: Any

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of one query (placeholders `?`), under the store's lock."""
        raise NotImplementedError

    def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement (placeholders `?`), under the store's lock; the rows it changed."""
        raise NotImplementedError

    def _record(self, row: Sequence[Any]) -> RunRecord:
        return read_record(row)

    def lease(self, run_id: str) -> Lease:
        rows = self._rows("SELECT lease_owner, lease_expires FROM runs WHERE run_id=?", (run_id,))
        return Lease(rows[0][0], rows[0][1]) if rows else Lease(None, None)

    def renew_lease(self, run_id: str, owner: str, ttl: float = LEASE_SECONDS) -> bool:
        sql = "UPDATE runs SET lease_expires=? WHERE run_id=? AND lease_owner=?"
        return self._write(sql, (time.time() + ttl, run_id, owner)) == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        sql = "UPDATE runs SET lease_owner=NULL, lease_expires=NULL WHERE run_id=? AND lease_owner=?"
        self._write(sql, (run_id, owner))

    def post(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        sql = "INSERT INTO inbox (run_id, at, kind, data) VALUES (?, ?, ?, ?)"
        self._write(sql, (run_id, utcnow().isoformat(), kind, json.dumps(data)))

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
        return [self._record(r) for r in self._rows(sql, args)]

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id, by a unique prefix of its id, or `latest`."""
        select = f"SELECT {self._RUN_COLUMNS} FROM runs r"
        if run_id in LATEST:
            rows = self._rows(f"{select} ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1")
        else:
            rows = self._rows(f"{select} WHERE r.run_id=?", (run_id,))
            if not rows:
                rows = self._rows(
                    f"{select} WHERE r.run_id LIKE ? ESCAPE '\\' LIMIT 2", (like_prefix(run_id),)
                )
        if len(rows) == 1:
            return self._record(rows[0])
        if len(rows) > 1:
            raise RunNotFound(f"'{run_id}' matches more than one run", fix="give more of the run id")
        raise RunNotFound(
            f"no run '{run_id}' in {self.path}",
            fix=recent_runs_fix(self.runs(limit=5), "check --db / PODIUM_DB"),
        )
