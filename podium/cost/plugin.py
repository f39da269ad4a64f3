"""The cost plugin: budget checks before calls, a running tally per run, the run's cost, and commands.

A built-in plugin, registered like any other (DEFAULT_PLUGINS names `CostPlugin`, and each plugin
manager makes its own); without it runs work the same. Constructing it imports nothing heavy:
its Meter, the catalog, genai-prices and rich are loaded when a run or a command first needs them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from podium.plugins import hookimpl

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest
    from podium.core.events import Event
    from podium.core.run import Run
    from podium.core.store import RunStore
    from podium.cost.budget import Meter
    from podium.cost.catalog import PriceCatalog
    from podium.cost.spans import SpanPrices
    from podium.plugins.hookspecs import RunSummary

log = logging.getLogger("podium.cost")

# The event types the cost fold reads (the rest only move a run's tally on by one seq). Their
# values, so that this module imports nothing: EventType is a StrEnum, equal to its value.
READ_EVENTS = frozenset(
    {
        *("RunStarted", "RunResumed", "RunFinished", "RunStopped", "RunWaiting"),
        *("CallStarted", "CallFinished", "CallFailed"),
    }
)


def _catalog(prices: list[str]) -> PriceCatalog:
    # podium's own catalog is loaded at the run's first priced call (a run of python functions
    # never loads it); a user's price files are read and checked at once
    from podium.cost.catalog.loading import default_config, run_catalog

    return run_catalog(prices, config=default_config())


class CostPlugin:
    """The cost plugin's hooks, and its state: the Meter of the runs this plugin manager drives."""

    def __init__(self) -> None:
        self._meter: Meter | None = None
        self._span_prices: SpanPrices | None = None

    def meter(self) -> Meter:
        """The tally of each run in flight (and of runs just ended), made on first use."""
        # a method, not a property: pluggy reads every attribute when it registers a plugin
        if self._meter is None:
            from podium.cost.budget import Meter

            self._meter = Meter(_catalog)
        return self._meter

    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        """Refuse a call whose worst case would take spend past a budget (BudgetExceeded)."""
        self.meter().before_call(run, step, request)

    @hookimpl
    def podium_event(self, event: Event) -> None:
        """Fold each event into its run's tally; at the run's end, write its ledger rows."""
        if event.type not in READ_EVENTS and (self._meter is None or self._meter.passed(event)):
            return  # a step's start or end, an approval, a warning: nothing to meter
        try:
            self.meter().on_event(event)
        except Exception:  # metering must never break a run; `podium cost` re-derives from events
            log.warning("cost: metering run %s failed on %s", event.run_id, event.type, exc_info=True)

    @hookimpl
    def podium_span_attributes(self, event: Event) -> dict[str, Any] | None:
        """Each finished call's price (exact, as text) and whether it was priced, for its trace span."""
        if self._span_prices is None:
            from podium.cost.spans import SpanPrices

            self._span_prices = SpanPrices(_catalog)
        try:
            return self._span_prices.attributes(event)
        except Exception:  # a trace without prices beats no trace
            log.warning("cost: pricing the trace of run %s failed", event.run_id, exc_info=True)
            return None

    @hookimpl
    def podium_run_summary(self, run: Run, store: RunStore) -> RunSummary:
        """The run's cost: from this manager's tally if it ran the run, else derived from the store."""
        from podium.cost.summary import cost_summary

        return cost_summary(run, store, self._meter)

    @hookimpl
    def podium_register_commands(self, cli: Any) -> None:
        """Add `podium cost` and `podium prices`."""
        from podium.cost.commands import add_commands

        add_commands(cli)
