"""What the spend page shows: cost per workflow per day, per provider and per model, each workflow's
budgets and how close each is, and the `--as-provider` what-if for one workflow.

The numbers are the cost plugin's own: ledger rows synced from the events, rolled up by
`build_report`, budgets as `podium run` checks them (`budget.run`, `budget.daily`, `budget.monthly`
of the workflow file, UTC days and months).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from podium.core.errors import PodiumError
from podium.core.store import RunRecord, RunStore
from podium.cost.budget import day_start, month_start
from podium.cost.catalog import PriceCatalog
from podium.cost.ledger import Ledger
from podium.cost.report import Report, build_report, parse_as_providers
from podium.ui.runs import Cost, money

PERIODS = (7, 30, 90)


@dataclass(frozen=True, slots=True)
class Meter:
    """One budget and how much of it is spent."""

    name: str  # run, daily, monthly
    limit: Decimal
    spent: Decimal
    of_what: str  # "the latest run (…)", "today (UTC)", "this month (UTC)"
    warn_at: Decimal = Decimal("0.8")  # the workflow's budget.warn_at: where the meter turns amber

    @property
    def low(self) -> Decimal:
        return self.limit * self.warn_at

    @property
    def share(self) -> float:
        return float(self.spent / self.limit) if self.limit else 0.0

    @property
    def percent(self) -> str:
        return f"{self.share * 100:.0f}%"

    @property
    def over(self) -> bool:
        return self.spent > self.limit

    @property
    def text(self) -> str:
        return f"${money(self.spent)} of ${money(self.limit)}"


@dataclass(frozen=True, slots=True)
class Budgets:
    """A workflow's budgets (from its latest run's file), or why they cannot be read."""

    workflow: str
    file: str | None
    meters: list[Meter]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    days: list[date]
    workflows: list[str]
    daily: dict[tuple[str, date], Decimal]  # (workflow, day) → dollars
    total: Cost
    by_provider: Report
    by_model: Report
    budgets: list[Budgets]


def spend(
    store: RunStore, catalog: PriceCatalog, days: int, plugins: Any, now: datetime | None = None
) -> Spend:
    """Spend over the last `days` days (UTC, today included), and every workflow's budgets."""
    now = now or datetime.now(UTC)
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days - 1)
    records = store.runs()
    with Ledger.open(store) as ledger:
        ledger.sync(store, catalog, [r for r in records if r.updated_at >= min(start, month_start(now))])
        rows = ledger.rows(since=start)
        budgets = [_budgets(ledger, store, r, plugins, now) for r in _latest_per_workflow(records)]
    daily: dict[tuple[str, date], Decimal] = {}
    for row in rows:
        if row.cost is not None:
            key = (row.workflow, row.day)
            daily[key] = daily.get(key, Decimal(0)) + row.cost
    workflows = sorted({row.workflow for row in rows})
    return Spend(
        days=[(start + timedelta(days=i)).date() for i in range(days)],
        workflows=workflows,
        daily=daily,
        total=Cost.of(rows),
        by_provider=build_report(rows, ("provider",), title="by provider"),
        by_model=build_report(rows, ("provider", "model"), title="by model"),
        budgets=[b for b in budgets if b.meters or b.problem],
    )


def _latest_per_workflow(records: Sequence[RunRecord]) -> list[RunRecord]:
    latest: dict[str, RunRecord] = {}
    for r in records:  # newest first: the first of each workflow is its latest
        latest.setdefault(r.workflow, r)
    return sorted(latest.values(), key=lambda r: r.workflow)


def _budgets(ledger: Ledger, store: RunStore, latest: RunRecord, plugins: Any, now: datetime) -> Budgets:
    from podium import api

    name = latest.workflow
    if not latest.file or not Path(latest.file).is_file():
        problem = f"its file {latest.file or '(none recorded)'} is missing: its budgets cannot be read"
        return Budgets(name, latest.file, [], problem)
    try:
        budget = api.load(latest.file, plugins=plugins).budget
    except PodiumError as exc:
        return Budgets(name, latest.file, [], f"{latest.file} does not load: {exc}")
    if budget is None:
        return Budgets(name, latest.file, [])
    meters = []
    if budget.run is not None:
        spent = sum((r.cost for r in ledger.rows(run_ids=[latest.run_id]) if r.cost is not None), Decimal(0))
        meters.append(Meter("run", budget.run, spent, f"the latest run ({latest.run_id})", budget.warn_at))
    if budget.daily is not None:
        meters.append(
            Meter("daily", budget.daily, ledger.spend(name, day_start(now)), "today (UTC)", budget.warn_at)
        )
    if budget.monthly is not None:
        meters.append(
            Meter("monthly", budget.monthly, ledger.spend(name, month_start(now)), "this month (UTC)")
        )
    return Budgets(name, latest.file, meters)


def what_if(
    store: RunStore, catalog: PriceCatalog, workflow: str, providers: str, days: int, classes: Any
) -> Report:
    """A workflow's spend over `days`, priced again on each of `providers` (`bedrock,azure`): the
    `podium cost --workflow W --by provider,model --as-provider …` report. A name without prices is
    BadInput."""
    now = datetime.now(UTC)
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days - 1)
    targets = parse_as_providers(providers)
    with Ledger.open(store) as ledger:
        ledger.sync(store, catalog, [r for r in store.runs() if r.workflow == workflow])
        rows = ledger.rows(workflow=workflow, since=start)
    return build_report(
        rows,
        ("provider", "model"),
        catalog=catalog,
        as_provider=targets,
        classes=classes,
        title=f"{workflow} as {', '.join(targets)}",
    )
