"""What the runs pages show: the runs list (filtered, waiting first, with cost and provider mix) and
one run (steps, bindings, costs, approvals, calls, events), each read from the store and its ledger.

Everything here is plain data for the templates; none of it is HTML, so that the templates'
autoescaping is the one place where what agents said meets the page.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from podium import api
from podium.core.errors import BadInput
from podium.core.events import Event, EventType
from podium.core.replay import fold
from podium.core.run import Run, StepResult
from podium.core.store import RunRecord, RunStore
from podium.cost.catalog import PriceCatalog
from podium.cost.ledger import Ledger, LedgerRow

STATUSES = ("waiting", "running", "interrupted", "failed", "stopped", "succeeded", "cancelled")
MOST_RUNS = 200  # the list shows this many at most; filters narrow it
# a run in these states can be continued with `podium resume`
RESUMABLE = ("interrupted", "failed", "stopped", "cancelled", "waiting")


@dataclass(frozen=True, slots=True)
class Cost:
    """Dollars over some ledger rows, and what could not be priced (shown beside, never as $0)."""

    usd: Decimal | None
    calls: int
    unpriced: int = 0
    mock: int = 0

    @classmethod
    def of(cls, rows: Iterable[LedgerRow]) -> Cost:
        rows = list(rows)
        # a scripted (mock) reply costs nothing real: it is shown as `mock`, never as $0
        priced = [r.cost for r in rows if r.cost is not None and r.status != "mock"]
        return cls(
            usd=sum(priced, Decimal(0)) if priced else None,
            calls=len(rows),
            unpriced=sum(1 for r in rows if r.status in ("unpriced", "unknown")),
            mock=sum(1 for r in rows if r.status == "mock"),
        )

    @property
    def text(self) -> str:
        """`$0.0097`, `$0.01 + 2 unpriced`, `mock`, or `-` (no calls)."""
        if self.calls == 0:
            return "-"
        extra = f" + {self.unpriced} unpriced" if self.unpriced else ""
        if self.usd is None:
            return ("mock" if self.mock == self.calls else "unpriced") if not extra else extra[3:]
        return f"${money(self.usd)}{extra}"


def money(value: Decimal) -> str:
    """Dollars as people read them: cents for sums of a dollar or more, four figures below."""
    if value == 0:
        return "0.00"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.6f}".rstrip("0").ljust(4, "0")


@dataclass(frozen=True, slots=True)
class RunLine:
    """A line of the runs list."""

    record: RunRecord
    status: str
    cost: Cost
    providers: str  # `local x2, bedrock x1`
    duration: str

    @property
    def run_id(self) -> str:
        return self.record.run_id


@dataclass(frozen=True, slots=True)
class RunFilter:
    """The runs list's filters, checked: a workflow name, a status as seen, a day (UTC)."""

    workflow: str | None = None
    status: str | None = None
    day: date | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> RunFilter:
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            raise BadInput(f"status '{status}' is not a run status", fix=f"use one of {', '.join(STATUSES)}")
        text = (query.get("date") or "").strip()
        day = None
        if text:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise BadInput(f"date '{text}' is not a date", fix="write it as YYYY-MM-DD") from None
        return cls(workflow=query.get("workflow") or None, status=status, day=day)

    def keeps(self, line: RunLine) -> bool:
        r = line.record
        return (
            (self.workflow is None or r.workflow == self.workflow)
            and (self.status is None or line.status == self.status)
            and (self.day is None or r.started_at.astimezone(UTC).date() == self.day)
        )


def duration(start: datetime | None, end: datetime | None, now: datetime | None = None) -> str:
    if start is None:
        return ""
    took = ((end or now or datetime.now(UTC)) - start).total_seconds()
    if took < 1:
        return f"{took * 1000:.0f} ms"
    if took < 120:
        return f"{took:.1f} s"
    minutes, seconds = divmod(int(took), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s"


def ledger_rows(store: RunStore, catalog: PriceCatalog, records: Sequence[RunRecord]) -> list[LedgerRow]:
    """The ledger rows of `records`, each run synced from its events first (as `podium cost` does)."""
    if not records:
        return []
    with Ledger.open(store) as ledger:
        ledger.sync(store, catalog, records)
        return ledger.rows(run_ids=[r.run_id for r in records])


def provider_mix(rows: Iterable[LedgerRow]) -> str:
    counts = Counter(r.provider for r in rows)
    return ", ".join(f"{name} x{n}" for name, n in counts.most_common())


def run_lines(store: RunStore, catalog: PriceCatalog, wanted: RunFilter) -> tuple[list[RunLine], list[str]]:
    """The runs the filter keeps, waiting ones first then newest first; and every workflow's name."""
    records = store.runs(limit=MOST_RUNS * 5)
    workflows = sorted({r.workflow for r in records})
    seen = [replace(r, status=api.status_of(r, store)) for r in records]
    pre = [r for r in seen if (wanted.workflow is None or r.workflow == wanted.workflow)][: MOST_RUNS * 2]
    rows = ledger_rows(store, catalog, pre)
    by_run: dict[str, list[LedgerRow]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    now = datetime.now(UTC)
    lines = [
        RunLine(
            record=r,
            status=r.status,
            cost=Cost.of(by_run.get(r.run_id, [])),
            providers=provider_mix(by_run.get(r.run_id, [])),
            duration=duration(
                r.started_at, r.finished_at or (None if r.status == "running" else r.updated_at), now
            ),
        )
        for r in pre
    ]
    kept = [line for line in lines if wanted.keeps(line)]
    # waiting runs first: someone is needed there; the sort is stable, so newest first within each
    kept.sort(key=lambda line: line.status != "waiting")
    return kept[:MOST_RUNS], workflows


def list_version(store: RunStore) -> str:
    """A fingerprint of the runs the list may show (ids, statuses as seen, event counts): when it
    changes, the page redraws."""
    seen = [(r.run_id, api.status_of(r, store), r.events) for r in store.runs(limit=MOST_RUNS * 5)]
    return hashlib.sha256(json.dumps(seen).encode("utf-8")).hexdigest()[:16]


# --- one run ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    by: str | None
    comment: str | None
    fields: dict[str, Any]
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval step: what it asks (message, typed fields, deadline) and its decision, if made."""

    step: str
    message: str
    fields: dict[str, dict[str, Any]]
    deadline: str | None
    tool: dict[str, Any] | None
    decision: Decision | None
    waiting: bool  # still waiting for a person (not yet decided)


@dataclass(frozen=True, slots=True)
class StepLine:
    step: StepResult
    binding: str
    cost: Cost
    error: str | None

    @property
    def id(self) -> str:
        return self.step.id


@dataclass
class RunPage:
    """One run, as its page shows it."""

    run: Run
    record: RunRecord
    events: list[Event]
    steps: list[StepLine]
    approvals: list[Approval]
    cost: Cost
    duration: str
    driven: bool  # a live process drives the run now
    resume_command: str | None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.run.status)

    @property
    def version(self) -> str:
        return f"{self.run.last_seq}-{self.status}"


def binding_of(step: StepResult, bindings: dict[str, Any]) -> str:
    """What a step ran on, in words: `local mock`, `bedrock agent AGENT123`, `python function f`."""
    if step.bound_to:
        kind, ident = step.bound_to.get("kind") or "", step.bound_to.get("id") or ""
        shown = "" if ident in ("", kind) else f" {ident}"
        return f"{step.provider or ''} {kind}{shown}".strip()
    if step.agent is None:
        return "approval" if step.approval is not None else "-"
    bound = bindings.get(step.agent) or {}
    if bound.get("function"):
        return f"python function {bound['function']}"
    chain = " → ".join(bound.get("providers") or []) or (step.provider or "")
    model = f" model {bound['model']}" if bound.get("model") else ""
    return f"{chain}{model}".strip() or "-"


def step_error(step: StepResult) -> str | None:
    if step.error is None:
        return None
    kind = "" if step.error.message.startswith(step.error.kind) else f"{step.error.kind}: "
    return f"{kind}{step.error.message}"


def approvals_of(run: Run, events: Sequence[Event], order: Sequence[str]) -> list[Approval]:
    decided_at: dict[str, datetime] = {}
    for e in events:
        if e.type is EventType.APPROVAL_DECIDED and e.step:
            decided_at[e.step] = e.at
        elif e.type is EventType.APPROVAL_REQUESTED and e.step:
            decided_at.pop(e.step, None)
    out = []
    for sid in order:
        s = run.steps[sid]
        if not s.approval:
            continue
        request = s.approval.get("request") or {}
        d = s.approval.get("decision")
        decision = (
            Decision(
                decision=str(d.get("decision")),
                by=d.get("by"),
                comment=d.get("comment"),
                fields=dict(d.get("fields") or {}),
                at=decided_at.get(sid),
            )
            if d
            else None
        )
        out.append(
            Approval(
                step=sid,
                message=str(request.get("message") or ""),
                fields=dict(request.get("fields") or {}),
                deadline=request.get("deadline"),
                tool=request.get("tool"),
                decision=decision,
                waiting=str(s.status) == "waiting" and decision is None,
            )
        )
    return out


def run_page(store: RunStore, catalog: PriceCatalog, run_id: str) -> RunPage:
    """One run by id (or unique prefix, or `latest`): RunNotFound if there is none."""
    record = store.get_run(run_id)
    events = store.events(record.run_id)
    run = api.observed(fold(events), store)
    started = events[0].data if events else {}
    order = [s for s in started.get("steps", []) if s in run.steps] or list(run.steps)
    order += [s for s in run.steps if s not in order]
    bindings = started.get("bindings") or {}
    rows = ledger_rows(store, catalog, [record])
    by_step: dict[str, list[LedgerRow]] = {}
    for row in rows:
        by_step.setdefault(row.step, []).append(row)
    steps = [
        StepLine(
            run.steps[sid],
            binding_of(run.steps[sid], bindings),
            Cost.of(by_step.get(sid, [])),
            step_error(run.steps[sid]),
        )
        for sid in order
    ]
    status = str(run.status)
    lease = store.lease(record.run_id)
    driven = lease.driven
    approvals = approvals_of(run, events, order)
    resumable = status in RESUMABLE and not driven
    if status == "waiting" and any(a.waiting for a in approvals):
        resumable = False  # a person must decide first; the form says so
    return RunPage(
        run=run,
        record=record,
        events=events,
        steps=steps,
        approvals=approvals,
        cost=Cost.of(rows),
        duration=duration(run.started_at, run.finished_at or (None if driven else record.updated_at)),
        driven=driven,
        resume_command=f"podium resume {record.run_id}" if resumable else None,
        outputs=run.outputs,
    )


@dataclass(frozen=True, slots=True)
class CallView:
    """One call of a step, as its page shows it."""

    attempt: int | None
    item: Any
    provider: str
    model: str
    prompt: str
    reply: str | None = None
    usage: str = ""
    error: str | None = None


def as_text(value: Any) -> str:
    """A value as text to show: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def calls_of(events: Sequence[Event], sid: str) -> list[CallView]:
    """A step's calls in order: each prompt, then its reply and usage, or its error."""
    calls: list[CallView] = []
    for e in events:
        if e.step != sid:
            continue
        d = e.data
        if e.type is EventType.CALL_STARTED:
            calls.append(
                CallView(
                    e.attempt,
                    d.get("item"),
                    str(d.get("provider") or ""),
                    str(d.get("model") or ""),
                    as_text(d.get("prompt", "")),
                )
            )
        elif e.type is EventType.CALL_FINISHED and calls:
            usage = d.get("usage") or {}
            calls[-1] = replace(
                calls[-1],
                reply=as_text(d.get("reply")),
                usage=f"{usage.get('input_tokens', 0):,} in, {usage.get('output_tokens', 0):,} out"
                + (f", {d['latency_ms']:.0f} ms" if isinstance(d.get("latency_ms"), int | float) else ""),
            )
        elif e.type is EventType.CALL_FAILED:
            said = f"{d.get('kind')}: {d.get('message')}"
            if calls and calls[-1].reply is None and calls[-1].error is None:
                calls[-1] = replace(calls[-1], error=said)
            else:
                calls.append(
                    CallView(e.attempt, d.get("item"), str(d.get("provider") or ""), "", "", error=said)
                )
    return calls


def event_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "at": e.at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
            "type": str(e.type),
            "step": e.step or "",
            "attempt": "" if e.attempt is None else e.attempt,
            "data": json.dumps(e.data, ensure_ascii=False, default=str),
        }
        for e in events
    ]


def since_days(days: int, now: datetime | None = None) -> datetime:
    start = (now or datetime.now(UTC)) - timedelta(days=days - 1)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)
