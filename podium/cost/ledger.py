"""The cost ledger: every agent call a row, folded from the run's events and kept in the run database.

Rows are derived, never authored: `CostFold` turns a run's events into rows (one per `CallFinished`,
so every attempt the cloud billed is a row, retries included, and a resumed run's finished steps,
having no new calls, are not billed again). `Ledger` keeps them in the store's own SQLite file, in
tables of its own (`cost_calls`, `cost_runs`), created on first use and rebuilt from the events
whenever they are missing, stale, or were priced with another catalog.

A call with no price is a row with its tokens, `status = "unpriced"` and no cost — never $0. A call
to a python-function agent that reports no model and no tokens is `free`: there is nothing to bill.
A failed call with no `CallFinished` (throttled, a 5xx, a timeout) reported no usage and has no row;
the clouds do not bill a throttled or failed request, and a timed-out call's tokens are unknown.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from podium.core.calls import ZERO_USAGE, Usage
from podium.core.events import Event, EventType
from podium.core.store import DerivedTables, RunRecord, RunStore
from podium.cost.catalog import PriceCatalog, Rate

SCHEMA = "1"
ZERO = Decimal(0)
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One billed agent call: who, what, when, its tokens by kind, the price used, and the cost."""

    run_id: str
    seq: int  # of the CallFinished event
    workflow: str
    step: str
    item: int | None
    agent: str | None
    provider: str
    model: str | None
    attempt: int
    retry: bool  # a later attempt of the same step (or item): billed all the same
    at: datetime  # when the call was made (its CallStarted), UTC
    session_id: str | None
    new_session: bool  # the first call of its session (per-session fees are billed here)
    service: str | None  # "agent" when the provider says the call went through its agent service
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    # "priced" | "unpriced" | "free" | "mock" (a scripted reply no price applies to) | "unknown" (the
    # service reported no usage: the tokens, and so the cost, are not known)
    status: str
    cost: Decimal | None  # None when unpriced
    price: str  # the rate used, or why there is none
    source: str  # where the rate came from

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
        )

    @property
    def day(self) -> date:
        return self.at.astimezone(UTC).date()

    def to_json(self) -> dict[str, Any]:
        """Plain values; money as a decimal string (exact), time as ISO 8601."""
        out = {name: getattr(self, name) for name in COLUMNS if name != "cost"}
        out["at"] = self.at.isoformat()
        out["cost_usd"] = None if self.cost is None else str(self.cost)
        return out


COLUMNS: tuple[str, ...] = LedgerRow.__slots__  # type: ignore[attr-defined]
JSON_FIELDS: tuple[str, ...] = (*(c for c in COLUMNS if c != "cost"), "cost_usd")


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return ZERO_USAGE
    get = data.get
    counts = (get("input_tokens"), get("output_tokens"), get("cache_read_tokens"),
              get("cache_write_tokens"), get("requests"))  # fmt: skip
    if len(data) == 5 and all(type(n) is int for n in counts):  # a Usage's dump, as the engine writes it
        return _usage_of(counts)
    return _usage_of(tuple(int(data.get(k) or 0) if k in data else None for k in _USAGE_KEYS))


@functools.lru_cache(maxsize=1024)
def _usage_of(counts: tuple[int | None, ...]) -> Usage:
    """A Usage (frozen: shared by the calls that used as much), validated once per set of counts."""
    return Usage(**{k: n for k, n in zip(_USAGE_KEYS, counts, strict=True) if n is not None})


class CostFold:
    """Folds one run's events, in order, into ledger rows (the plugin keeps one per run in flight).

    `feed` is incremental so the plugin's running tally and a batch re-derivation are the same
    code: `derive_rows(events, catalog) == CostFold(...).feed(each event).rows`.

    A free call's row (a python function: no model, no tokens) is made only when `rows` is read:
    it costs nothing, so no budget reads it, and most runs' rows are read once, at their end
    (`add` is `feed` without making it: the plugin's per-call path).
    """

    def __init__(self, run_id: str, catalog: PriceCatalog) -> None:
        self.run_id = run_id
        self.catalog = catalog
        self.workflow = "?"
        self.functions: set[str] = set()
        self._rows: list[LedgerRow | _Free] = []
        self._lazy = 0  # how many of `_rows` are free calls whose row is not made yet
        self._made = 0  # every row before this index is made
        self.last_seq = 0
        self.spent = ZERO
        self.unpriced = 0
        self._started: dict[
            tuple[str | None, int | None, int | None], tuple[datetime, str | None, str | None]
        ] = {}
        self._sessions: set[tuple[str, str]] = set()

    @property
    def rows(self) -> list[LedgerRow]:
        """The run's rows so far, one per finished call, in order."""
        rows = self._rows
        if self._lazy:  # made in place, from the first not made (a budget reads the rows per call)
            for i in range(self._made, len(rows)):
                row = rows[i]
                if row.__class__ is _Free:
                    rows[i] = row.row()  # type: ignore[union-attr]
            self._lazy = 0
        self._made = len(rows)
        return rows  # type: ignore[return-value]

    @property
    def count(self) -> int:
        """How many rows there are so far (without making the free calls' ones)."""
        return len(self._rows)

    def seen_session(self, provider: str, session_id: str | None) -> bool:
        return session_id is not None and (provider, session_id) in self._sessions

    def feed(self, event: Event) -> LedgerRow | None:
        """Take one event; return the row it adds, if it is a finished call."""
        added = self.add(event)
        if added.__class__ is _Free:
            row = self._rows[-1] = added.row()  # type: ignore[union-attr]
            self._lazy -= 1
            return row
        return added  # type: ignore[return-value]

    def add(self, event: Event) -> LedgerRow | _Free | None:
        """`feed`, except that a free call's row is not made yet (a `_Free` stands for it)."""
        if event.seq > self.last_seq:
            self.last_seq = event.seq
        d = event.data
        t = event.type
        if t is EventType.CALL_STARTED:
            key = (event.step, d.get("item"), event.attempt)
            self._started[key] = (event.at, d.get("agent"), d.get("model"))
        elif t is EventType.CALL_FINISHED:
            row = self._row(event)
            self._rows.append(row)
            if row.__class__ is _Free:
                self._lazy += 1
                return row
            if row.cost is not None:  # type: ignore[union-attr]
                self.spent += row.cost  # type: ignore[union-attr]
            if row.status == "unpriced":  # type: ignore[union-attr]
                self.unpriced += 1
            return row
        elif t is EventType.RUN_STARTED:
            self.workflow = str(d.get("workflow", "?"))
            bindings = d.get("bindings") or {}
            self.functions = {a for a, b in bindings.items() if isinstance(b, dict) and b.get("function")}
        return None

    def _row(self, event: Event) -> LedgerRow | _Free:
        d = event.data
        started = self._started.pop((event.step, d.get("item"), event.attempt), None)
        agent = started[1] if started else None
        model = d.get("model") or (started[2] if started else None)
        provider = str(d.get("provider") or "?")
        session = d.get("session_id")
        new_session = session is not None and (provider, session) not in self._sessions
        if session is not None:
            self._sessions.add((provider, session))
        usage = _usage(d.get("usage"))  # (a frozen Usage shared by the calls that used as much)
        if agent in self.functions and (model is None or usage.total_tokens == 0):
            return _Free(self.workflow, event, started, model, provider, new_session, usage)
        native = d.get("native") if isinstance(d.get("native"), dict) else {}
        # providers say `native.service = "agent"` for a call through their managed agent service;
        # Bedrock's InvokeAgent is known by the agent id it records
        service = native.get("service") or ("agent" if native.get("agent_id") else None)
        cost: Decimal | None
        if native.get("usage_unknown"):
            status, cost, price, source = "unknown", None, f"{provider} reported no token usage", ""
        else:
            at = (started[0] if started else event.at).astimezone(UTC)
            quote = self.catalog.rate(provider, model, at, service=service)
            if isinstance(quote, Rate):
                status, cost = "priced", quote.cost(usage, new_session=new_session)
                price, source = _described(quote)
            elif native.get("mock") is not None:
                # a scripted reply is not a call anyone bills: priced when its model maps to a real
                # one (what it would cost), else nothing to price, and nothing to warn about
                status, cost, price, source = "mock", ZERO, f"a mock reply: {quote.reason}", "podium"
            else:
                status, cost, price, source = "unpriced", None, quote.reason, ""
        return _ledger_row(self.workflow, event, started, model, provider, new_session, usage, service,
                           (status, cost, price, source))  # fmt: skip


def _ledger_row(
    workflow: str,
    event: Event,
    started: tuple[datetime, str | None, str | None] | None,
    model: str | None,
    provider: str,
    new_session: bool,
    usage: Usage,
    service: str | None,
    priced: tuple[str, Decimal | None, str, str],
) -> LedgerRow:
    d = event.data
    attempt = int(event.attempt or 1)
    status, cost, price, source = priced
    return LedgerRow(
        run_id=event.run_id, seq=event.seq, workflow=workflow, step=str(event.step),
        item=d.get("item"), agent=started[1] if started else None, provider=provider, model=model,
        attempt=attempt, retry=attempt > 1, at=(started[0] if started else event.at).astimezone(UTC),
        session_id=d.get("session_id"), new_session=new_session, service=service,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
        status=status, cost=cost, price=price, source=source,
    )  # fmt: skip


class _Free:
    """A free call's row, not made yet: its fields as the fold saw them (not the event: a run
    that just ended keeps its fold a while, and an event holds its reply)."""

    __slots__ = ("values",)

    def __init__(self, workflow: str, event: Event, started: Any, model: str | None, provider: str,
                 new_session: bool, usage: Usage) -> None:  # fmt: skip
        d = event.data
        native = d.get("native") if isinstance(d.get("native"), dict) else {}
        service = native.get("service") or ("agent" if native.get("agent_id") else None)
        attempt = int(event.attempt or 1)
        self.values = (
            event.run_id, event.seq, workflow, str(event.step), d.get("item"),
            started[1] if started else None, provider, model, attempt, attempt > 1,
            started[0] if started else event.at, d.get("session_id"), new_session, service,
            usage,  # not the event's dict of counts: one per call, kept until the row is made
        )  # fmt: skip

    def row(self) -> LedgerRow:
        (run_id, seq, workflow, step, item, agent, provider, model, attempt, retry, at, session,
         new_session, service, used) = self.values  # fmt: skip
        return LedgerRow(
            run_id=run_id, seq=seq, workflow=workflow, step=step, item=item, agent=agent,
            provider=provider, model=model, attempt=attempt, retry=retry, at=at.astimezone(UTC),
            session_id=session, new_session=new_session, service=service,
            input_tokens=used.input_tokens, output_tokens=used.output_tokens,
            cache_read_tokens=used.cache_read_tokens, cache_write_tokens=used.cache_write_tokens,
            status="free", cost=ZERO, price="a python function: nothing to bill", source="podium",
        )  # fmt: skip


@functools.lru_cache(maxsize=256)
def _described(rate: Rate) -> tuple[str, str]:
    """A rate's price and source as a ledger row says them: formatted once per rate, not per call."""
    source = f"{rate.origin}: {rate.catalog_provider} {rate.catalog_model} ({rate.source})"
    return rate.describe(), source


def derive_rows(events: Iterable[Event], catalog: PriceCatalog) -> list[LedgerRow]:
    """A run's ledger rows from its events (in order)."""
    fold: CostFold | None = None
    for event in events:
        if fold is None:
            fold = CostFold(event.run_id, catalog)
        fold.feed(event)
    return fold.rows if fold is not None else []


# --- the table in the run database --------------------------------------------------------------

_DDL = (
    "CREATE TABLE IF NOT EXISTS cost_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS cost_calls (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, workflow TEXT NOT NULL, step TEXT NOT NULL,
        item INTEGER, agent TEXT, provider TEXT NOT NULL, model TEXT, attempt INTEGER NOT NULL,
        retry INTEGER NOT NULL, at TEXT NOT NULL, session_id TEXT, new_session INTEGER NOT NULL,
        service TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
        status TEXT NOT NULL, cost TEXT, price TEXT NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS cost_calls_by_workflow ON cost_calls (workflow, at)",
    """CREATE TABLE IF NOT EXISTS cost_runs (
        run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, last_seq INTEGER NOT NULL,
        catalog TEXT NOT NULL
    )""",
)
_DROP = ("DROP TABLE IF EXISTS cost_calls", "DROP TABLE IF EXISTS cost_runs")
_INSERT = f"INSERT INTO cost_calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def _to_db(row: LedgerRow) -> tuple[Any, ...]:
    values = []
    for name in COLUMNS:
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, bool):
            value = int(value)
        values.append(value)
    return tuple(values)


def _from_db(values: Sequence[Any]) -> LedgerRow:
    data = dict(zip(COLUMNS, values, strict=True))
    data["at"] = datetime.fromisoformat(data["at"])
    data["retry"] = bool(data["retry"])
    data["new_session"] = bool(data["new_session"])
    data["cost"] = None if data["cost"] is None else Decimal(data["cost"])
    return LedgerRow(**data)


def _file_of(store: RunStore) -> Path | None:
    """The database file behind a store, if it has one (in memory, a ledger lasts as long as the store)."""
    path = getattr(store, "path", None)
    return Path(path) if path is not None and str(path) != ":memory:" else None


class Ledger:
    """Ledger rows in SQL: the store's own database file, or memory for other stores.

    Open it with `Ledger.open(store)` (a context manager); `sync` brings runs up to date from
    their events, and `rows` / `spend` read them back.
    """

    def __init__(self, db: DerivedTables) -> None:
        self.db = db
        self._prepare()

    @classmethod
    @contextlib.contextmanager
    def open(cls, store: RunStore) -> Iterator[Ledger]:
        with store.derived_tables() as db:
            yield cls(db)

    def _prepare(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS cost_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM cost_meta WHERE key='schema'").fetchone()
        if row is not None and row[0] == SCHEMA:
            return
        with db.transaction():
            if row is not None:  # derived data: an older layout is rebuilt from the events
                for statement in _DROP:
                    db.execute(statement)
            for statement in _DDL:
                db.execute(statement)
            db.execute(
                "INSERT INTO cost_meta (key, value) VALUES ('schema', ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (SCHEMA,),
            )

    def write_run(
        self, run_id: str, workflow: str, rows: Sequence[LedgerRow], last_seq: int, catalog: str
    ) -> None:
        """Replace a run's rows (they were derived from its events up to `last_seq`)."""
        db = self.db
        with db.transaction():
            db.execute("DELETE FROM cost_calls WHERE run_id=?", (run_id,))
            db.executemany(_INSERT, [_to_db(r) for r in rows])
            db.execute(
                "INSERT INTO cost_runs (run_id, workflow, last_seq, catalog) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET workflow=excluded.workflow, last_seq=excluded.last_seq,"
                " catalog=excluded.catalog",
                (run_id, workflow, last_seq, catalog),
            )

    def sync(self, store: RunStore, catalog: PriceCatalog, records: Iterable[RunRecord]) -> None:
        """Re-derive the rows of each run whose events or catalog changed since it was last synced."""
        for record in records:
            state = self.db.execute(
                "SELECT last_seq, catalog FROM cost_runs WHERE run_id=?", (record.run_id,)
            ).fetchone()
            if state is not None and state == (record.events, catalog.fingerprint) and record.events:
                continue
            events = store.events(record.run_id)
            fold = CostFold(record.run_id, catalog)
            for event in events:
                fold.feed(event)
            workflow = record.workflow if fold.workflow == "?" else fold.workflow
            self.write_run(record.run_id, workflow, fold.rows, fold.last_seq, catalog.fingerprint)

    def rows(
        self,
        *,
        run_ids: Sequence[str] | None = None,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LedgerRow]:
        """Rows, oldest first, filtered by run, workflow and time (`since` inclusive, `until` not)."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM cost_calls WHERE 1=1"
        args: list[Any] = []
        if run_ids is not None:
            sql += f" AND run_id IN ({', '.join('?' for _ in run_ids)})"
            args.extend(run_ids)
        if workflow is not None:
            sql += " AND workflow=?"
            args.append(workflow)
        if since is not None:
            sql += " AND at>=?"
            args.append(since.astimezone(UTC).isoformat())
        if until is not None:
            sql += " AND at<?"
            args.append(until.astimezone(UTC).isoformat())
        sql += " ORDER BY at, run_id, seq"
        return [_from_db(r) for r in self.db.execute(sql, args).fetchall()]

    def spend(self, workflow: str, since: datetime, *, exclude_run: str | None = None) -> Decimal:
        """What a workflow's priced calls cost since `since` (unpriced calls cannot be counted)."""
        rows = self.db.execute(
            "SELECT cost FROM cost_calls WHERE workflow=? AND at>=? AND COALESCE(run_id <> ?, TRUE)"
            " AND cost IS NOT NULL",
            (workflow, since.astimezone(UTC).isoformat(), exclude_run),
        ).fetchall()
        return sum((Decimal(r[0]) for r in rows), ZERO)


def runs_to_sync(
    store: RunStore,
    *,
    run_id: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
) -> list[RunRecord]:
    """The store's runs a report (or a budget) needs: one run, or a workflow's runs active since."""
    if run_id is not None:
        return [store.get_run(run_id)]
    records = store.runs()
    return [
        r
        for r in records
        if (workflow is None or r.workflow == workflow) and (since is None or r.updated_at >= since)
    ]


def ledger_rows(
    store: RunStore,
    catalog: PriceCatalog,
    *,
    run_id: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
) -> list[LedgerRow]:
    """Sync the runs in question and return their rows: what `podium cost` reports on."""
    with Ledger.open(store) as ledger:
        records = runs_to_sync(store, run_id=run_id, workflow=workflow, since=since)
        ledger.sync(store, catalog, records)
        if run_id is not None:
            return ledger.rows(run_ids=[records[0].run_id], since=since)
        return ledger.rows(workflow=workflow, since=since)
