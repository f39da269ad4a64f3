"""A free call's ledger row (a python function agent) is made only when the rows are read: the rows
the plugin keeps and writes must still be, field by field, the ones derived from the run's events."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import podium
from podium.core.calls import Usage
from podium.core.store import SQLiteStore
from podium.cost.catalog import PriceCatalog, load_catalog
from podium.cost.ledger import CostFold, LedgerRow, derive_rows, ledger_rows
from podium.testing import function_provider

from .helpers import Events, cost_plugin, plugins_with, replying


@pytest.fixture
def forget_free_agents() -> Iterator[None]:
    yield
    sys.modules.pop("free_agents", None)


async def test_free_and_priced_calls_keep_the_rows_their_events_derive(
    write: Callable[..., Path], tmp_path: Path, forget_free_agents: None
) -> None:
    """Catches a free row made from the call other than as `derive_rows` makes it (its price,
    agent, time, session), or left out of what the plugin writes and reports."""
    write("free_agents.py", "def count(prompt):\n    return str(len(prompt))\n")
    path = write(
        "flow.yaml",
        """
        name: mixed
        agents:
          counter: {function: "free_agents:count"}
          w: {provider: fake, model: gpt-4o-mini}
        steps:
          a: {agent: counter, prompt: one}
          b: {agent: w, prompt: two, needs: [a]}
          c: {agent: counter, foreach: [x, y], prompt: "{{ item }}", needs: [b]}
        """,
    )
    store = SQLiteStore(tmp_path / "runs.db")
    pm = plugins_with(function_provider("fake", replying(Usage(input_tokens=100, output_tokens=10))))
    run = await podium.arun(path, plugins=pm, store=store)
    assert run.ok, run.error

    expected = derive_rows(store.events(run.run_id), load_catalog())
    assert [(r.step, r.item, r.status) for r in expected] == [
        ("a", None, "free"), ("b", None, "priced"), ("c", 0, "free"), ("c", 1, "free"),
    ]  # fmt: skip
    assert expected[0].price == "a python function: nothing to bill" and expected[0].agent == "counter"
    assert cost_plugin(pm).meter().rows_for(run.run_id) == expected
    with sqlite3.connect(tmp_path / "runs.db") as raw:
        stored = raw.execute(
            "SELECT step, price, at FROM cost_calls WHERE run_id=? ORDER BY seq", (run.run_id,)
        )
        assert [tuple(r) for r in stored] == [(r.step, r.price, r.at.isoformat()) for r in expected]
    assert ledger_rows(store, load_catalog(), run_id=run.run_id) == expected
    store.close()


def test_rows_read_between_calls_are_each_made_once_in_order(catalog: PriceCatalog) -> None:
    """Catches a free row made twice or out of place when a budget reads the rows after each
    call: the rows, read as the calls come, are the ones `derive_rows` makes of the same events."""
    ev = Events(functions=("counter",))
    fold = CostFold("r1", catalog)
    for event in ev.items:
        fold.add(event)
    seen: list[list[LedgerRow]] = []
    for i, (agent, model) in enumerate([("counter", None), ("writer", "gpt-4o-mini"), ("counter", None)] * 2):
        ev.call(f"s{i}", agent=agent, model=model)
        for event in ev.items[-2:]:
            fold.add(event)
        seen.append(list(fold.rows))
    expected = derive_rows(ev.items, catalog)
    assert [r.status for r in expected] == ["free", "priced", "free"] * 2
    assert seen == [expected[: n + 1] for n in range(6)]
    assert all(type(r) is LedgerRow for r in fold.rows)
