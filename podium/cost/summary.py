"""A run's cost for `podium show`, `podium run` and their `--json`: the cost plugin's run-summary piece."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from podium.plugins.hookspecs import RunSummary

if TYPE_CHECKING:
    from rich.console import RenderableType

    from podium.core.run import Run
    from podium.core.store import RunStore
    from podium.cost.budget import Meter
    from podium.cost.ledger import LedgerRow

log = logging.getLogger("podium.cost")


def rows_for_run(run_id: str, store: RunStore | None, meter: Meter | None = None) -> list[LedgerRow] | None:
    """A run's rows: from the meter if it saw the whole run, else derived from the store's events."""
    rows = meter.rows_for(run_id) if meter is not None else None
    if rows is not None or store is None:
        return rows
    from podium.cost.catalog import default_config, load_catalog
    from podium.cost.ledger import ledger_rows

    return ledger_rows(store, load_catalog(config=default_config()), run_id=run_id)


def cost_summary(run: Run, store: RunStore | None, meter: Meter | None = None) -> RunSummary:
    """`cost` for `--json` (null when the run cannot be priced) and the cost table for people."""
    try:
        rows = rows_for_run(run.run_id, store, meter)
    except Exception:  # a summary is a courtesy: `podium cost` says what is wrong
        log.debug("cost: no cost summary for run %s", run.run_id, exc_info=True)
        rows = None
    if rows is None:
        return RunSummary("cost", None)
    from podium.cost.report import run_cost_json

    order = list(run.steps)

    def view() -> RenderableType | None:
        from podium.cost.report import run_summary

        return run_summary(rows, order) if rows else None

    return RunSummary("cost", run_cost_json(rows), view)
