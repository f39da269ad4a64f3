"""The in-memory store: events in lists, for tests, notebooks and the benchmark baseline."""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
import time
import zlib
from array import array
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podium.core.errors import RunNotFound
from podium.core.events import Event, EventType, utcnow
from podium.core.lease import LEASE_SECONDS, Lease
from podium.core.store.base import (
    INDEXED_TYPES,
    Message,
    RunRecord,
    finished_twice,
    index_change,
    recent_runs_fix,
    seq_taken,
)
from podium.core.store.connection import DerivedTables, delete_run_rows

_PAGE = 2000  # events decoded at a time by `event_rows`
_CHUNK = 256  # event texts joined into one string
# Within this many seconds of 1970, a time's POSIX timestamp (a double) is within half a
# microsecond of it, so `datetime.fromtimestamp` gives the very same time back (2**33 s: year 2242).
_EXACT_TIMESTAMPS = 2.0**33


def _pack(text: str) -> bytes:
    return zlib.compress(text.encode(), 1)  # the fastest level: most of the gain, at ~1/3 the time


def _unpack(packed: bytes) -> str:
    return zlib.decompress(packed).decode()


class _Log:
    """One run's events as kept: columns, not an object per event.

    A 10,000-step run writes 40,002 events. Kept as a tuple, an int, a datetime and a str each
    they took ~13 MB (and as many objects for the collector to walk). Here seqs are machine
    integers and times POSIX timestamps (a time in UTC; any other time is kept as given, aside),
    types, steps and attempts are pointers to objects the run shares, and the data's JSON texts
    are joined, `_CHUNK` at a time, into one string with commas between them (with each text's
    length kept), so a page of them is decoded with a single `json.loads` of a slice. A full chunk
    is kept zlib-compressed: a run's events repeat the same keys, ids and replies, and a chunk of a
    chain's events shrinks ~17x (5.9 MB of text at 40,002 events → ~0.4 MB), at ~0.2 µs an event
    to compress and as much to read back. Events come in seq order; one that comes late is put in
    its place.
    """

    __slots__ = ("ats", "attempts", "chunks", "lens", "odd_ats", "seqs", "steps", "tail", "types")

    def __init__(self) -> None:
        self.seqs = array("q")
        self.types: list[EventType] = []
        self.steps: list[str | None] = []
        self.attempts: list[int | None] = []
        self.ats = array("d")
        self.odd_ats: dict[int, datetime] = {}  # by seq: a time not in UTC (or without a zone)
        self.chunks: list[bytes] = []  # _CHUNK texts each, joined by commas, compressed
        self.lens = array("L")  # the length of each text in `chunks`
        self.tail: list[str] = []  # the texts after the last chunk

    def __len__(self) -> int:
        return len(self.seqs)

    def add(self, event: Event, text: str) -> None:
        at, seq, seqs = event.at, event.seq, self.seqs
        if seqs and seq <= seqs[-1]:
            self._insert(event, text)
            return
        stamp = at.timestamp() if at.tzinfo is UTC else _EXACT_TIMESTAMPS
        if not -_EXACT_TIMESTAMPS < stamp < _EXACT_TIMESTAMPS:
            self.odd_ats[seq] = at
        seqs.append(seq)
        self.ats.append(stamp)
        self.types.append(event.type)
        self.steps.append(event.step)
        self.attempts.append(event.attempt)
        tail = self.tail
        tail.append(text)
        if len(tail) == _CHUNK:
            self.chunks.append(_pack(",".join(tail)))
            self.lens.extend(map(len, tail))
            self.tail = []

    def _insert(self, event: Event, text: str) -> None:
        """Put an event that came out of order (rare) in its place: the texts are joined again."""
        at, seq = event.at, event.seq
        stamp = at.timestamp() if at.tzinfo is UTC else _EXACT_TIMESTAMPS
        if not -_EXACT_TIMESTAMPS < stamp < _EXACT_TIMESTAMPS:
            self.odd_ats[seq] = at
        i = bisect.bisect_left(self.seqs, seq)
        self.seqs.insert(i, seq)
        self.ats.insert(i, stamp)
        self.types.insert(i, event.type)
        self.steps.insert(i, event.step)
        self.attempts.insert(i, event.attempt)
        texts = self.texts()
        texts.insert(i, text)
        sealed = len(texts) - len(texts) % _CHUNK
        self.chunks = [_pack(",".join(texts[c : c + _CHUNK])) for c in range(0, sealed, _CHUNK)]
        self.lens = array("L", map(len, texts[:sealed]))
        self.tail = texts[sealed:]

    def texts(self) -> list[str]:
        """Every event's JSON text, one by one."""
        out: list[str] = []
        lens = self.lens
        for c, packed in enumerate(self.chunks):
            chunk, at = _unpack(packed), 0
            for n in lens[c * _CHUNK : (c + 1) * _CHUNK]:
                out.append(chunk[at : at + n])
                at += n + 1
        return out + self.tail

    def first_after(self, seq: int) -> int:
        """The index of the first event after `seq`."""
        return bisect.bisect_right(self.seqs, seq)

    def datas(self, start: int, stop: int) -> list[Any]:
        """The data of events `start` to `stop` (indexes), decoded with one `json.loads`."""
        if start >= stop:
            return []
        pieces: list[str] = []
        lens, sealed = self.lens, len(self.lens)
        i = start
        while i < min(stop, sealed):
            first = i - i % _CHUNK
            end = min(stop, first + _CHUNK)
            begin = sum(lens[first:i]) + (i - first)  # the texts before i, and their commas
            chunk = _unpack(self.chunks[first // _CHUNK])
            pieces.append(chunk[begin : begin + sum(lens[i:end]) + (end - i - 1)])
            i = end
        if stop > sealed:
            pieces.extend(self.tail[max(start, sealed) - sealed : stop - sealed])
        return json.loads("[" + ",".join(pieces) + "]")

    def rows(
        self, start: int, stop: int
    ) -> Iterator[tuple[int, datetime, EventType, str | None, int | None]]:
        """`(seq, at, type, step, attempt)` of events `start` to `stop` (indexes)."""
        odd = self.odd_ats
        for seq, stamp, kind, step, attempt in zip(
            self.seqs[start:stop],
            self.ats[start:stop],
            self.types[start:stop],
            self.steps[start:stop],
            self.attempts[start:stop],
            strict=True,
        ):
            at = odd[seq] if odd and seq in odd else datetime.fromtimestamp(stamp, UTC)
            yield seq, at, kind, step, attempt

    def text_bytes(self) -> int:
        """The UTF-8 size of the events' texts."""
        commas = len(self.lens) - len(self.chunks)  # _CHUNK - 1 in each chunk
        sealed = sum(len(zlib.decompress(packed)) for packed in self.chunks) - commas
        return sealed + sum(len(text.encode()) for text in self.tail)


class MemoryStore:
    """A store that keeps events in lists: for tests, notebooks and the benchmark baseline.

    It behaves as the SQLite store does (data kept as JSON text, decoded when read, seq unique
    and ordered, the same errors), so code tested against it holds against SQLite.
    """

    path = Path(":memory:")

    def __init__(self) -> None:
        self._events: dict[str, _Log] = {}
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
        finished = self._finished  # (copied before its first change: most batches make none)
        for event, _ in batch:
            log = self._events.get(event.run_id)
            late = bool(log) and event.seq <= log.seqs[-1]  # type: ignore[union-attr]
            if late:
                i = log.first_after(event.seq - 1)  # type: ignore[union-attr]
                if i < len(log) and log.seqs[i] == event.seq:  # type: ignore[union-attr,arg-type]
                    raise seq_taken(event)
                # out of order (rare): the state as of this seq, from the events before it
                earlier = log.types[:i]  # type: ignore[union-attr]
                ended = next((t is EventType.RUN_FINISHED for t in reversed(earlier)
                              if t in (EventType.RUN_FINISHED, EventType.RUN_RESUMED)), False)  # fmt: skip
            else:
                ended = finished.get(event.run_id, False)
            if event.type is EventType.RUN_FINISHED:
                if ended:
                    raise finished_twice(event)
                finished = {**finished, event.run_id: True}
            elif event.type is EventType.RUN_RESUMED:
                finished = {**finished, event.run_id: False}
        self._finished = finished
        for event, text in batch:
            log = self._events.get(event.run_id)
            if log is None:
                log = self._events[event.run_id] = _Log()
            log.add(event, text)
            change = index_change(event) if event.type in INDEXED_TYPES else None
            if change is not None:
                line = change.apply(self._runs.get(event.run_id))
                if line is not None:
                    self._runs[event.run_id] = line

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        log = self._events.get(run_id)
        if log is None:
            return []
        start = log.first_after(after)
        stop = len(log) if limit is None else min(len(log), start + max(limit, 0))
        # one json.loads over the events' data as one array, as SQLiteStore.events does
        datas = log.datas(start, stop)
        return [
            Event(run_id, seq, kind, step, attempt, data, at)
            for (seq, at, kind, step, attempt), data in zip(log.rows(start, stop), datas, strict=True)
        ]

    def event_rows(
        self, run_id: str, *, after: int = 0
    ) -> Iterator[tuple[int, datetime, EventType, str | None, int | None, Any]]:
        """The run's events as `(seq, at, type, step, attempt, data)`, what `replay.RunFold` reads:
        no Event per row, and decoded a page at a time (as `SQLiteStore.event_rows`), so that the
        fold of a long run's result never holds all its events decoded at once."""
        log = self._events.get(run_id)
        if log is None:
            return
        for first in range(log.first_after(after), len(log), _PAGE):
            stop = min(first + _PAGE, len(log))
            datas = log.datas(first, stop)
            for (seq, at, kind, step, attempt), data in zip(log.rows(first, stop), datas, strict=True):
                yield seq, at, kind, step, attempt, data

    def _measured(self, record: RunRecord) -> RunRecord:
        log = self._events.get(record.run_id)
        if log is None:
            return replace(record, size_bytes=0, events=0)
        size = log.text_bytes() + sum(len(str(t)) for t in log.types) + 48 * len(log)
        return replace(record, size_bytes=size, events=len(log))

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
        log = self._events.get(run_id)
        return log.seqs[-1] if log else 0

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
