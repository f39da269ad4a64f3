"""What every run store is: the RunStore protocol, its records, and the runs-index fold."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from podium.core.errors import StoreError
from podium.core.events import Event, EventType, RunStatus
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.connection import DerivedTables


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
    """Where a run's events live. `append` returns only once the event is durable.

    Derived tables: a plugin that keeps data derived from the events (the cost ledger) keeps it
    in the store's own database through `derived_tables()`, a context manager yielding a
    `DerivedTables` handle (`execute`, `executemany`, and `transaction()` for an atomic write).
    SQLite stores hand out a connection of their own to the same file; in-memory stores an
    in-memory database that lives as long as the store. `delete_run` also deletes a run's rows
    from every derived table with a `run_id` column. Derived tables must be rebuildable from the
    events: a store may lose them, never the events.
    """

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
    def derived_tables(self) -> AbstractContextManager[DerivedTables]: ...
    def close(self) -> None: ...


def default_db_path() -> Path:
    """`$PODIUM_DB`, else `~/.podium/podium.db`, as a file path (see `default_db` for a URL)."""
    env = os.environ.get("PODIUM_DB")
    return Path(env).expanduser() if env else Path.home() / ".podium" / "podium.db"


POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def url_scheme(target: object) -> str | None:
    """The scheme of `target` (a --db value) when it is a URL (`postgresql`, `mysql`), else None:
    a file path."""
    found = _URL.match(target) if isinstance(target, str) else None
    return found.group(1) if found else None


def is_postgres_url(target: object) -> bool:
    """Whether `target` (a --db value) names a PostgreSQL database rather than a SQLite file."""
    return (url_scheme(target) or "").lower() in POSTGRES_SCHEMES


def default_db() -> str | Path:
    """The store to use when none is named: `$PODIUM_DB` (a file or a postgresql:// URL), else
    `~/.podium/podium.db`."""
    env = os.environ.get("PODIUM_DB")
    if env and url_scheme(env):
        return env  # a URL: PostgreSQL's, or one open_store refuses (a Path would make it folders)
    return default_db_path()


# --- the runs index, folded from the events ---------------------------------------------------

_STATUS_OF: dict[EventType, RunStatus | None] = {
    EventType.RUN_WAITING: RunStatus.WAITING,
    EventType.RUN_STOPPED: RunStatus.STOPPED,
    EventType.RUN_FINISHED: None,  # the status is in the event's data
}


@dataclass(frozen=True, slots=True)
class IndexChange:
    """What one event changes in its run's index line: the status and times, or a new line."""

    run_id: str
    status: str
    updated_at: datetime
    finished_at: datetime | None
    new: RunRecord | None  # the line a RunStarted adds when the run has none yet

    def apply(self, old: RunRecord | None) -> RunRecord | None:
        """The run's index line after this change (None: the run has no line, and gets none)."""
        if old is None:
            return self.new
        return replace(old, status=self.status, updated_at=self.updated_at, finished_at=self.finished_at)


# the event types that change a run's index line (`index_change`); every other type changes nothing
INDEXED_TYPES: frozenset[EventType] = frozenset({EventType.RUN_STARTED, EventType.RUN_RESUMED, *_STATUS_OF})


def index_change(event: Event) -> IndexChange | None:
    """The runs-index change an event implies (the index is derivable from the events).

    Both stores apply it: the SQLite store as SQL, the memory store with `IndexChange.apply`.
    """
    at = event.at
    if event.type in (EventType.RUN_STARTED, EventType.RUN_RESUMED):
        new = None
        if event.type is EventType.RUN_STARTED:
            d = event.data
            running = str(RunStatus.RUNNING)
            new = RunRecord(
                event.run_id, d.get("workflow", "?"), d.get("file"), d.get("file_hash"), running, at, at, None
            )
        return IndexChange(event.run_id, str(RunStatus.RUNNING), at, None, new)
    if event.type in _STATUS_OF:
        status = _STATUS_OF[event.type] or event.data.get("status", RunStatus.FAILED)
        finished = at if event.type is EventType.RUN_FINISHED else None
        return IndexChange(event.run_id, str(status), at, finished, None)
    return None


def recent_runs_fix(recent: list[RunRecord], also: str) -> str:
    """What to do about a run id that names no run: the most recent runs' ids, to pick from."""
    if not recent:
        return f"this store has no runs yet: {also} (`podium runs` lists a store's runs)"
    listed = ", ".join(f"{r.run_id} ({r.workflow}, {r.status})" for r in recent)
    return f"recent runs: {listed}; `podium runs` lists more ({also})"


def seq_taken(event: Event) -> StoreError:
    """The error for an event whose seq its run already has (two writers, or a replayed append)."""
    return StoreError(
        f"run {event.run_id} already has an event {event.seq}; events are append-only",
        fix="is another process driving this run?",
    )


def seqs_taken(events: Sequence[Event]) -> StoreError:
    """The error for a batch of events one of whose seqs its run already has."""
    first, last = events[0], events[-1]
    return StoreError(
        f"run {first.run_id} already has an event among {first.seq} to {last.seq}; events are append-only",
        fix="is another process driving this run?",
    )


def finished_twice(event: Event) -> StoreError:
    """The error for a second RunFinished of one run attempt (no RunResumed since the first)."""
    return StoreError(
        f"run {event.run_id} has already finished: a second RunFinished (seq {event.seq}) was"
        " refused; a run finishes once, and again only after it is resumed",
        fix="is another process driving this run? `podium show RUN` says how it ended",
    )
