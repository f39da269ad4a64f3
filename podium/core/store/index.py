"""The runs index as SQL: listing runs and finding one by id, prefix or `latest`, for the SQL stores.

SQLite's and PostgreSQL's stores share these queries; each gives its own `_RUN_COLUMNS` (a run's
size is measured in each database's own words), runs a query with `_rows` (placeholders written
`?`), and reads a row with `_record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from podium.core.errors import RunNotFound
from podium.core.store.base import RunRecord, recent_runs_fix

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


class SQLRunIndex:
    """`runs` and `get_run` for a store whose runs index is a SQL table named `runs`."""

    _RUN_COLUMNS: ClassVar[str]
    path: Any

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of one query (placeholders `?`), under the store's lock."""
        raise NotImplementedError

    def _record(self, row: Sequence[Any]) -> RunRecord:
        return read_record(row)

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
