"""Budgets: the worst case of each call checked before it is made, and the running tally of each run.

Before a call, its worst case is priced: the prompt's tokens (estimated at four characters a token)
plus the most it may write (`max_tokens` in the agent's options, else 4,096) at the model's prices.
The call is refused with `BudgetExceeded` — the run stops, resumable — if that worst case, on top of
what has been spent and what calls already in flight may still spend, would pass:

* the run's budget: `--budget USD` (`settings["budget"]`), else the workflow's `budget.run`;
* the workflow's spend today or this month (UTC), across all its runs in the database:
  `budget.daily`, `budget.monthly`.

After each call, actual spend is compared again: past `warn_at` (80% unless set) of a limit, or past
the limit itself (a worst case can be beaten by a longer prompt than estimated), a warning is logged
on the `podium.cost` logger, once per run and limit; the next call over the limit is refused.

A call to an unpriced model cannot be limited: it is let through, with one warning per model.
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from podium.core.calls import AgentRequest, Usage
from podium.core.errors import BudgetExceeded, InputError, PodiumError
from podium.core.events import Event, EventType
from podium.core.store import RunStore
from podium.cost.catalog import PriceCatalog, Rate, money
from podium.cost.ledger import CostFold, Ledger, LedgerRow, runs_to_sync

log = logging.getLogger("podium.cost")

DEFAULT_MAX_OUTPUT_TOKENS = 4096
OUTPUT_LIMIT_OPTIONS = (
    "max_tokens",
    "max_output_tokens",
    "max_completion_tokens",
    "maxTokens",
    "maxOutputTokens",
)
ZERO = Decimal(0)
_ENDING = (EventType.RUN_FINISHED, EventType.RUN_STOPPED, EventType.RUN_WAITING)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one run, and where each was set (for messages)."""

    run: Decimal | None = None
    run_from: str = "--budget"
    daily: Decimal | None = None
    monthly: Decimal | None = None
    warn_at: Decimal = Decimal("0.8")
    file: str = "the workflow file"

    @property
    def any(self) -> bool:
        return self.run is not None or self.daily is not None or self.monthly is not None


def _dollars(value: Any, where: str) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        # a budget that is not an amount is the caller's mistake, not an overspend: nothing may run
        raise InputError(
            f"{where} {value!r} is not a budget: it must be a positive amount of US dollars",
            fix="give a positive amount, e.g. --budget 0.50",
        )
    return amount


def _setting(run: Any, key: str) -> Any:
    """`run.settings[key]`, whether settings are a dict or typed RunSettings (both have `.get`)."""
    settings = getattr(run, "settings", None)
    return None if settings is None else settings.get(key)


def limits_for(run: Any) -> Limits:
    """The run's limits from `run.settings["budget"]` and `run.workflow.budget`."""
    workflow = run.workflow
    budget = getattr(workflow, "budget", None)
    path = getattr(workflow, "path", None)
    file = path.name if path is not None else "the workflow file"
    given = _setting(run, "budget")
    if given is not None:
        run_limit, run_from = _dollars(given, "--budget"), "--budget"
    elif budget is not None and budget.run is not None:
        run_limit, run_from = budget.run, f"budget.run in {file}"
    else:
        run_limit, run_from = None, "--budget"
    if budget is None:
        return Limits(run=run_limit, run_from=run_from, file=file)
    return Limits(
        run=run_limit,
        run_from=run_from,
        daily=budget.daily,
        monthly=budget.monthly,
        warn_at=budget.warn_at,
        file=file,
    )


def estimate_prompt_tokens(request: AgentRequest) -> int:
    """About four characters a token over the instructions, the conversation and the output schema."""
    chars = len(request.instructions or "") + sum(len(m.content) for m in request.messages)
    if request.output_schema:
        chars += len(json.dumps(request.output_schema))
    return math.ceil(chars / 4)


def max_output_tokens(request: AgentRequest) -> int:
    """The most the call may write: the agent's `max_tokens` (or a provider's spelling of it)."""
    for key in OUTPUT_LIMIT_OPTIONS:
        value = request.options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_OUTPUT_TOKENS


def worst_case(rate: Rate, request: AgentRequest, *, new_session: bool) -> Decimal:
    """The most one call can cost: its estimated prompt plus its maximum output, at `rate`."""
    usage = Usage(input_tokens=estimate_prompt_tokens(request), output_tokens=max_output_tokens(request))
    return rate.cost(usage, new_session=new_session)


def suggest_budget(needed: Decimal, current: Decimal) -> Decimal:
    """A round budget that covers `needed`, at least double the current one: 0.53 over 0.50 → 1.00."""
    target = max(needed, current * 2)
    exponent = math.floor(math.log10(float(target))) if target > 0 else -2
    for power in range(max(exponent, -2), exponent + 2):
        for step in (1, 2, 5):
            candidate = Decimal(step) * Decimal(10) ** power
            if candidate >= target:
                return candidate.quantize(Decimal("0.01"))
    return target.quantize(Decimal("0.01"))


def day_start(at: datetime) -> datetime:
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def month_start(at: datetime) -> datetime:
    return datetime(at.year, at.month, 1, tzinfo=UTC)


@dataclass
class RunTally:
    """One run's spend while it executes: its ledger rows so far and its calls in flight."""

    run_id: str
    catalog: PriceCatalog
    fold: CostFold
    store: RunStore | None = None
    # a resumed run's events from before this process (RunContext.history), and this process's
    # events that came while those were not yet folded: a resume never reads the log again
    history: Sequence[Event] = ()
    pending: list[Event] = field(default_factory=list)
    inflight: dict[tuple[str, int | None, int], Decimal] = field(default_factory=dict)
    baselines: dict[tuple[str, date], Decimal] = field(default_factory=dict)  # other runs' spend
    warned: set[str] = field(default_factory=set)
    limits: Limits | None = None
    run: Any = None  # the RunContext of the process driving the run: records BudgetWarning events
    _since: dict[datetime, tuple[int, Decimal]] = field(default_factory=dict)  # spent_since's running sums

    @property
    def complete(self) -> bool:
        """True when every event from the run's first has been folded."""
        return self.fold.workflow != "?"

    def spent_since(self, since: datetime) -> Decimal:
        """This run's priced spend on calls made at or after `since` (kept up to date as rows come)."""
        done, total = self._since.get(since, (0, ZERO))
        rows = self.fold.rows
        for row in rows[done:]:
            if row.cost is not None and row.at >= since:
                total += row.cost
        self._since[since] = (len(rows), total)
        return total

    def catch_up(self) -> None:
        """Fold what came before this process's events: the run's history, then what waited."""
        for event in [*self.history, *self.pending]:
            if event.seq == self.fold.last_seq + 1:
                self.fold.feed(event)
        self.pending.clear()
        if not self.complete and self.store is not None:  # no history was handed over
            for event in self.store.events(self.run_id, after=self.fold.last_seq):
                self.fold.feed(event)


class Meter:
    """The cost plugin's state: a tally per run in flight, and the rows of runs that just ended.

    A tally starts at the run's first event, or at its first call (a resumed run: then the
    run's earlier events are read back from the store, so its spend so far counts).
    """

    def __init__(self, catalog: Callable[[list[str]], PriceCatalog]) -> None:
        self._catalog = catalog
        self.tallies: dict[str, RunTally] = {}
        # a run that just ended: its fold and how many rows it had then (a free call's row is
        # made only if someone asks: `rows_for`)
        self.recent: OrderedDict[str, tuple[CostFold, int, PriceCatalog]] = OrderedDict()
        self._broken: set[str] = set()

    def _tally(self, run_id: str, prices: list[str]) -> RunTally:
        tally = self.tallies.get(run_id)
        if tally is None:
            catalog = self._catalog(prices)
            tally = self.tallies[run_id] = RunTally(run_id, catalog, CostFold(run_id, catalog))
        return tally

    # --- before each call ---------------------------------------------------------------------

    def before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        if request.function:
            return  # a python function costs nothing (its ledger row says "free")
        known = self.tallies.get(run.run_id)
        if known is not None and known.store is None:
            known.store = run.store
            known.history = getattr(run, "history", ())  # a resumed run's earlier calls count
        limits = limits_for(run)
        if not limits.any:
            return
        try:
            tally = self._tally(run.run_id, list(_setting(run, "prices") or ()))
        except PodiumError as exc:
            raise BudgetExceeded(f"cannot check the budget: {exc.message}", fix=exc.fix) from None
        tally.limits = limits
        tally.run = run
        if tally.store is None:
            tally.store = run.store
            tally.history = getattr(run, "history", ())
        if not tally.complete:  # a resumed run: fold its earlier events, handed over by the engine
            tally.catch_up()
        now = datetime.now(UTC)
        service = "agent" if request.binding else None
        quote = tally.catalog.rate(request.provider, request.model, now, service=service)
        if not isinstance(quote, Rate):
            key = f"unpriced:{request.provider}:{request.model}"
            if key not in tally.warned:
                tally.warned.add(key)
                log.warning(
                    "budget warning: %s; the budget cannot limit calls to it (map the model to a priced"
                    " id under providers.%s.models, or add a price: see `podium prices`)",
                    quote.reason, request.provider,
                )  # fmt: skip
            return
        new_session = not tally.fold.seen_session(request.provider, request.session_id)
        worst = worst_case(quote, request, new_session=new_session)
        reserved = sum(tally.inflight.values(), ZERO)
        spent = tally.fold.spent
        workflow = run.workflow.name
        if limits.run is not None and spent + reserved + worst > limits.run:
            flight = f", {money(reserved)} in flight" if reserved else ""
            more = suggest_budget(spent + reserved + worst, limits.run)
            fix = f"podium resume {run.run_id} --budget {more}"
            if limits.run_from != "--budget":
                fix += f" (or raise {limits.run_from}, then podium resume {run.run_id} --allow-changed)"
            raise BudgetExceeded(
                f"step {step} would take the run past its {money(limits.run)} budget"
                f" (worst case {money(worst)}, spent {money(spent)}{flight})",
                fix=fix,
            )
        for kind, limit, start, period in (
            ("daily", limits.daily, day_start(now), "today"),
            ("monthly", limits.monthly, month_start(now), "this month"),
        ):
            if limit is None:
                continue
            others = self._baseline(tally, workflow, kind, start)
            used = others + tally.spent_since(start)
            if used + reserved + worst > limit:
                flight = f", {money(reserved)} in flight" if reserved else ""
                when = "tomorrow (UTC)" if kind == "daily" else "next month (UTC)"
                raise BudgetExceeded(
                    f"step {step} would take workflow {workflow} past its {kind} budget of"
                    f" {money(limit)} (worst case {money(worst)}, spent {period} {money(used)}{flight})",
                    # the file changes, so its run resumes only with --allow-changed
                    fix=f"raise budget.{kind} in {limits.file}, then podium resume {run.run_id}"
                    f" --allow-changed; or resume it {when}",
                )
        tally.inflight[(step, request.item, request.attempt)] = worst

    def _baseline(self, tally: RunTally, workflow: str, kind: str, start: datetime) -> Decimal:
        """What the workflow's other runs spent since `start`, from the ledger (once per period)."""
        key = (kind, start.date())
        if key not in tally.baselines and tally.store is not None:
            store = tally.store
            with Ledger.open(store) as ledger:
                records = [
                    r for r in runs_to_sync(store, workflow=workflow, since=start) if r.run_id != tally.run_id
                ]
                ledger.sync(store, tally.catalog, records)
                tally.baselines[key] = ledger.spend(workflow, start, exclude_run=tally.run_id)
        return tally.baselines.get(key, ZERO)

    # --- after each event ---------------------------------------------------------------------

    def passed(self, event: Event) -> bool:
        """Take an event the fold does not read: True if it only moved a tally on (or no tally is
        kept for its run); False when it must go through `on_event` (it came out of order)."""
        tally = self.tallies.get(event.run_id)
        if tally is None:
            return True
        fold = tally.fold
        if event.seq == fold.last_seq + 1:
            fold.last_seq = event.seq
            return True
        return False

    def on_event(self, event: Event) -> None:
        run_id = event.run_id
        if run_id in self._broken:
            return
        tally = self.tallies.get(run_id)
        if tally is None:
            if event.type not in (EventType.RUN_STARTED, EventType.RUN_RESUMED):
                return
            try:
                settings = event.data.get("settings") or {}
                tally = self._tally(run_id, list(settings.get("prices") or ()))
            except PodiumError as exc:
                self._broken.add(run_id)
                log.warning("cost: run %s is not metered: %s", run_id, exc)
                return
        row: object = None
        if event.seq == tally.fold.last_seq + 1:
            row = tally.fold.add(event)  # (a free call's row is made when the rows are read)
        elif event.seq > tally.fold.last_seq:
            tally.pending.append(event)  # a resumed run's: folded after its history
        if event.type in (EventType.CALL_FINISHED, EventType.CALL_FAILED):
            tally.inflight.pop((str(event.step), event.data.get("item"), int(event.attempt or 1)), None)
        if row is not None and tally.limits is not None:
            self._after_call(tally)
        if event.type in _ENDING:
            # a waiting run may go on in this process (run --wait): flush, but keep its tally
            self._finish(tally, ended=event.type is not EventType.RUN_WAITING)

    def _after_call(self, tally: RunTally) -> None:
        limits = tally.limits
        assert limits is not None
        now = datetime.now(UTC)
        checks = [("run", limits.run, tally.fold.spent, f"run {tally.run_id} has spent", "budget")]
        for kind, limit, start, period in (
            ("daily", limits.daily, day_start(now), "today"),
            ("monthly", limits.monthly, month_start(now), "this month"),
        ):
            base = tally.baselines.get((kind, start.date()))
            if limit is not None and base is not None:
                used = base + tally.spent_since(start)
                checks.append(
                    (
                        kind,
                        limit,
                        used,
                        f"workflow {tally.fold.workflow} has spent {period}",
                        f"{kind} budget",
                    )
                )
        for kind, limit, used, who, what in checks:
            if limit is None:
                continue
            if used > limit and f"over:{kind}" not in tally.warned:
                tally.warned.update({f"over:{kind}", f"near:{kind}"})
                message = (
                    f"{who} {money(used)}, over its {what} of {money(limit)}; its next call will be refused"
                )
            elif used >= limit * limits.warn_at and f"near:{kind}" not in tally.warned:
                tally.warned.add(f"near:{kind}")
                share = (used / limit * 100).quantize(Decimal(1))
                message = f"{who} {money(used)} of its {what} of {money(limit)} ({share}%)"
            else:
                continue
            log.warning("budget warning: %s", message)
            warn = getattr(tally.run, "warn", None)
            if callable(warn):
                warn(message, budget=kind, spent=str(used), limit=str(limit))

    def _finish(self, tally: RunTally, *, ended: bool = True) -> None:
        """The run ended (or paused): complete its rows, write them to the ledger, keep them a while."""
        if ended:
            self.tallies.pop(tally.run_id, None)
        try:
            if not tally.complete:
                tally.catch_up()
            if tally.complete and tally.store is not None:
                from podium.cost.ledger import _file_of

                if _file_of(tally.store) is not None:
                    with Ledger.open(tally.store) as ledger:
                        ledger.write_run(
                            tally.run_id, tally.fold.workflow, tally.fold.rows, tally.fold.last_seq,
                            tally.catalog.fingerprint,
                        )  # fmt: skip
        except Exception:  # the ledger is derived: `podium cost` rebuilds it from the events
            log.debug("cost: could not write the ledger of run %s", tally.run_id, exc_info=True)
        if tally.complete:
            self.recent[tally.run_id] = (tally.fold, tally.fold.count, tally.catalog)
            self.recent.move_to_end(tally.run_id)
            while len(self.recent) > 32:
                self.recent.popitem(last=False)

    def rows_for(self, run_id: str) -> list[LedgerRow] | None:
        """The rows of a run this process just ran, if it saw all of it."""
        found = self.recent.get(run_id)
        return found[0].rows[: found[1]] if found is not None else None
