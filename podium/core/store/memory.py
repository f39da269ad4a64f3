"""The in-memory store: events in lists, for tests, notebooks and the benchmark baseline."""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from podium.core.errors import RunNotFound
from podium.core.events import Event, EventType, utcnow
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import (
    Message,
    RunRecord,
    finished_twice,
    index_change,
    recent_runs_fix,
    seq_taken,
)
from podium.core.store.connection import DerivedTables, delete_run_rows

_PAGE = 2000  # events decoded at a time by `event_rows`
# an event as kept: seq, type, step, attempt, at, and its data as JSON text (decoded when read)
_Row = tuple[int, EventType, str | None, int | None, datetime, str]


class MemoryStore:
    """A store that keeps events in lists: for tests, notebooks and the benchmark baseline.

    It behaves as the SQLite store does (data kept as JSON text, decoded when read, seq unique
    and ordered, the same errors), so code tested against it holds against SQLite.
    """

    path = Path(":memory:")

    def __init__(self) -> None:
        self._events: dict[str, list[_Row]] = {}
        self._finished: dict[str, bool] = {}  # whether a run's attempt has its RunFinished (in seq order)
        self._runs: dict[str, RunRecord] = {}
        self._leases: dict[str, Lease] = {}
        self._inbox: dict[str, list[Message]] = {}
        self._derived: sqlite3.Connection | None = None  # made on first use
        self._derived_lock = threading.RLock()

    def append(self, event: Event) -> None:
        self.append_many([(event, event.data_json())])

    def append_many(self, batch: Sequence[tuple[Event, str]]) -> None:
        """Keep events with their data as the JSON text given (a copy: decoded when read back).

        All or none, as in SQLite's transaction: a seq the run has, or a second RunFinished of one
        run attempt (no RunResumed since the first), refuses the whole batch.
        """
        finished = dict(self._finished)
        for event, _ in batch:
            rows = self._events.get(event.run_id)
            late = bool(rows) and event.seq <= rows[-1][0]  # type: ignore[index]
            if late and any(r[0] == event.seq for r in rows):  # type: ignore[union-attr]
                raise seq_taken(event)
            if late:  # out of order (rare): the state as of this seq, from the rows before it
                earlier = [r[1] for r in rows if r[0] < event.seq]  # type: ignore[union-attr]
                ended = next((t is EventType.RUN_FINISHED for t in reversed(earlier)
                              if t in (EventType.RUN_FINISHED, EventType.RUN_RESUMED)), False)  # fmt: skip
            else:
                ended = finished.get(event.run_id, False)
            if event.type is EventType.RUN_FINISHED:
                if ended:
                    raise finished_twice(event)
                finished[event.run_id] = True
            elif event.type is EventType.RUN_RESUMED:
                finished[event.run_id] = False
        self._finished = finished
        for event, text in batch:
            row: _Row = (event.seq, event.type, event.step, event.attempt, event.at, text)
            rows = self._events.setdefault(event.run_id, [])
            if rows and event.seq <= rows[-1][0]:
                bisect.insort(rows, row, key=lambda r: r[0])
            else:
                rows.append(row)
            change = index_change(event)
            if change is not None:
                line = change.apply(self._runs.get(event.run_id))
                if line is not None:
                    self._runs[event.run_id] = line

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        rows = [r for r in self._events.get(run_id, []) if r[0] > after]
        if limit is not None:
            rows = rows[:limit]
        # one json.loads over the rows' data as one array, as SQLiteStore.events does
        datas = json.loads("[" + ",".join([r[5] for r in rows]) + "]") if rows else []
        return [
            Event(run_id, r[0], r[1], r[2], r[3], data, r[4]) for r, data in zip(rows, datas, strict=True)
        ]

    def event_rows(
        self, run_id: str, *, after: int = 0
    ) -> Iterator[tuple[int, datetime, EventType, str | None, int | None, Any]]:
        """The run's events as `(seq, at, type, step, attempt, data)`, what `replay.RunFold` reads:
        no Event per row, and decoded a page at a time (as `SQLiteStore.event_rows`), so that the
        fold of a long run's result never holds all its events decoded at once."""
        rows = self._events.get(run_id, [])
        start = bisect.bisect_right(rows, after, key=lambda r: r[0])
        for first in range(start, len(rows), _PAGE):
            page = rows[first : first + _PAGE]
            datas = json.loads("[" + ",".join([r[5] for r in page]) + "]")
            for r, data in zip(page, datas, strict=True):
                yield r[0], r[4], r[1], r[2], r[3], data

    def _measured(self, record: RunRecord) -> RunRecord:
        rows = self._events.get(record.run_id, [])
        size = sum(len(r[5].encode()) + len(str(r[1])) + 48 for r in rows)
        return replace(record, size_bytes=size, events=len(rows))

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
        raise RunNotFound(
            f"no run '{run_id}' in memory", fix=recent_runs_fix(self.runs(limit=5), "check --db")
        )

    def last_seq(self, run_id: str) -> int:
        rows = self._events.get(run_id)
        return rows[-1][0] if rows else 0

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
        for table in (self._events, self._runs, self._leases, self._inbox, self._finished):
            table.pop(run_id, None)  # type: ignore[attr-defined]
        with self._derived_lock:
            if self._derived is not None:
                delete_run_rows(self._derived, run_id)

    def derived_tables(self) -> AbstractContextManager[DerivedTables]:
        """A plugin's derived tables: an in-memory SQLite database that lives as long as the store."""
        with self._derived_lock:
            if self._derived is None:
                self._derived = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            return nullcontext(DerivedTables(self._derived, self._derived_lock))

    def close(self) -> None:
        with self._derived_lock:
            if self._derived is not None:
                self._derived.close()
                self._derived = None
