"""Each call's price on its trace span: the cost plugin's answer to `podium_span_attributes`.

The trace asks for each event of a run in order, live or when it exports a stored run; a
`CostFold` per run prices the calls exactly as the ledger does (the same rows `podium cost`
shows), so the trace carries the same numbers.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from podium.core.errors import PodiumError
from podium.core.events import Event, EventType
from podium.cost.catalog import PriceCatalog
from podium.cost.ledger import CostFold

log = logging.getLogger("podium.cost")

KEEP = 64  # runs folded at once: an export that stops halfway must not hold its fold for ever


class SpanPrices:
    """A cost fold per run being traced, fed every event the trace folds."""

    def __init__(self, catalog: Callable[[list[str]], PriceCatalog]) -> None:
        self._catalog = catalog
        self._folds: OrderedDict[str, CostFold | None] = OrderedDict()

    def attributes(self, event: Event) -> dict[str, Any] | None:
        """`podium.cost_usd` (exact, as text; null when unpriced), `podium.cost_status` and
        `podium.unpriced` for a finished call; None for any other event."""
        fold = self._fold(event)
        if fold is None:
            return None
        row = fold.feed(event) if event.seq > fold.last_seq else None
        if event.type is EventType.RUN_FINISHED:
            self._folds.pop(event.run_id, None)
        if row is None:
            return None
        return {
            "podium.cost_usd": None if row.cost is None else str(row.cost),
            "podium.cost_status": row.status,
            "podium.unpriced": row.status == "unpriced",
        }

    def _fold(self, event: Event) -> CostFold | None:
        run_id = event.run_id
        if run_id in self._folds and event.type is not EventType.RUN_STARTED:
            self._folds.move_to_end(run_id)
            return self._folds[run_id]
        settings = (event.data.get("settings") or {}) if event.type is EventType.RUN_STARTED else {}
        try:
            fold: CostFold | None = CostFold(run_id, self._catalog(list(settings.get("prices") or ())))
        except PodiumError as exc:
            log.warning("cost: the trace of run %s carries no prices: %s", run_id, exc)
            fold = None
        self._folds[run_id] = fold
        while len(self._folds) > KEEP:
            self._folds.popitem(last=False)
        return fold
