"""The in-memory store: events in lists, for tests, notebooks and the benchmark baseline."""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from podium.core.errors import RunNotFound
from podium.core.events import Event, utcnow
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import (
    Message,
    RunRecord,
    finished_twice,
    finishes_again,
    index_change,
    recent_runs_fix,
    seq_taken,
)
from podium.core.store.connection import DerivedTables, delete_run_rows


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
        self._derived: sqlite3.Connection | None = None  # made on first use
        self._derived_lock = threading.RLock()

    def append(self, event: Event) -> None:
        stored = replace(event, data=json.loads(event.data_json()))
        events = self._events.setdefault(event.run_id, [])
        if events and event.seq <= events[-1].seq and any(e.seq == event.seq for e in events):
            raise seq_taken(event)
        if finishes_again([e for e in events if e.seq < event.seq], event):
            raise finished_twice(event)
        if events and event.seq <= events[-1].seq:
            bisect.insort(events, stored, key=lambda e: e.seq)
        else:
            events.append(stored)
        change = index_change(event)
        if change is not None:
            line = change.apply(self._runs.get(event.run_id))
            if line is not None:
                self._runs[event.run_id] = line

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
        raise RunNotFound(
            f"no run '{run_id}' in memory", fix=recent_runs_fix(self.runs(limit=5), "check --db")
        )

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
