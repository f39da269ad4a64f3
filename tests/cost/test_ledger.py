"""The ledger: a row per finished call, folded from events; unpriced flagged; retries billed; in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import podium
from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import Throttled
from podium.core.events import EventType
from podium.core.store import MemoryStore, SQLiteStore
from podium.cost.catalog import PriceCatalog, load_catalog
from podium.cost.ledger import CostFold, Ledger, derive_rows, ledger_rows
from podium.testing import function_provider

from .helpers import Events, cost_plugin, plugins_with, replying

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_each_finished_call_is_a_row_with_its_price_and_cost(catalog: PriceCatalog) -> None:
    ev = Events(workflow="brief")
    ev.call(
        "draft",
        model="gpt-4o-mini",
        agent="writer",
        at=T0,
        usage={"input_tokens": 2000, "output_tokens": 1000},
    )
    [row] = derive_rows(ev.items, catalog)
    assert (row.run_id, row.workflow, row.step, row.agent, row.provider, row.model) == (
        "r1", "brief", "draft", "writer", "local", "gpt-4o-mini",
    )  # fmt: skip
    assert (row.input_tokens, row.output_tokens, row.attempt, row.retry, row.status) == (
        2000,
        1000,
        1,
        False,
        "priced",
    )
    assert row.cost == D("0.0009")  # 2000 x $0.15 + 1000 x $0.60 per MTok
    assert row.at == T0 and row.day.isoformat() == "2026-03-02"
    assert "$0.15 in" in row.price and "genai-prices" in row.source and "openai gpt-4o-mini" in row.source


def test_a_call_is_priced_at_its_request_time(catalog: PriceCatalog) -> None:
    ev = Events()
    ev.call(
        "old",
        model="o3",
        at=datetime(2025, 5, 1, tzinfo=UTC),
        usage={"input_tokens": 10**6, "output_tokens": 0},
    )
    ev.call(
        "new",
        model="o3",
        at=datetime(2025, 7, 1, tzinfo=UTC),
        usage={"input_tokens": 10**6, "output_tokens": 0},
    )
    old, new = derive_rows(ev.items, catalog)
    assert (old.cost, new.cost) == (D("10"), D("2"))


def test_an_unpriced_call_keeps_its_tokens_and_is_never_zero(catalog: PriceCatalog) -> None:
    ev = Events()
    ev.call("s", model="fast", usage={"input_tokens": 70, "output_tokens": 30})
    [row] = derive_rows(ev.items, catalog)
    assert row.status == "unpriced" and row.cost is None
    assert (row.input_tokens, row.output_tokens) == (70, 30)
    assert "no price for model 'fast' on local" in row.price
    fold = CostFold("r1", catalog)
    for event in ev.items:
        fold.feed(event)
    assert (fold.spent, fold.unpriced) == (D(0), 1)


def test_a_python_function_agent_is_free(catalog: PriceCatalog) -> None:
    ev = Events(functions=("counter",))
    ev.call("words", model=None, agent="counter", usage={"input_tokens": 0, "output_tokens": 0})
    [row] = derive_rows(ev.items, catalog)
    assert (row.status, row.cost) == ("free", D(0))


def test_the_session_fee_is_billed_on_a_sessions_first_call_only(write: Callable[..., Path]) -> None:
    path = write(
        "fees.yaml",
        """
        fees:
          - {provider: local, name: sandbox, per: session, usd: 0.03, effective_from: 2026-01-01,
             source: https://example.com/sandbox}
        """,
    )
    catalog = load_catalog([path])
    ev = Events()
    usage = {"input_tokens": 0, "output_tokens": 0}
    ev.call("a", usage=usage, session="s-1", at=T0)
    ev.call("a", usage=usage, session="s-1", attempt=2, at=T0)
    ev.call("b", usage=usage, session="s-2", at=T0)
    rows = derive_rows(ev.items, catalog)
    assert [r.cost for r in rows] == [D("0.03"), D(0), D("0.03")]
    assert [r.new_session for r in rows] == [True, False, True]


def flaky_then_invalid_then_valid(calls: list[int]) -> Callable[[AgentRequest], AgentResponse]:
    """Throttled (no usage), then a reply that breaks the schema (billed), then a good one (billed)."""

    def handler(request: AgentRequest) -> AgentResponse:
        calls.append(request.attempt)
        if request.attempt == 1:
            raise Throttled("slow down", retry_after=0)
        text = "not json" if request.attempt == 2 else '{"score": 7}'
        return AgentResponse(
            text=text, usage=Usage(input_tokens=1000, output_tokens=100), model=request.model
        )

    return handler


async def test_every_billed_attempt_is_a_row_and_retries_are_marked(write: Callable[..., Path]) -> None:
    path = write(
        "flow.yaml",
        """
        name: retried
        defaults: {retry: {attempts: 3, backoff: 0}}
        agents: {judge: {provider: fake, model: gpt-4o-mini}}
        steps:
          score: {agent: judge, prompt: rate it, output: {schema: {type: object, required: [score]}}}
        """,
    )
    calls: list[int] = []
    store = MemoryStore()
    pm = plugins_with(function_provider("fake", flaky_then_invalid_then_valid(calls)))
    run = await podium.arun(path, plugins=pm, store=store)
    assert run.ok and calls == [1, 2, 3]
    rows = derive_rows(store.events(run.run_id), load_catalog())
    assert [(r.attempt, r.retry) for r in rows] == [(2, True), (3, True)]  # the throttled call billed nothing
    assert all(r.cost == D("0.00021") for r in rows)  # 1000 x $0.15 + 100 x $0.60 per MTok, each time
    assert cost_plugin(pm).meter().rows_for(run.run_id) == rows  # the plugin's running tally is the same fold


async def test_rows_are_stored_in_the_run_database_and_rebuilt_from_events(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write(
        "flow.yaml",
        """
        name: stored
        agents: {w: {provider: fake, model: gpt-4o-mini}}
        steps: {a: {agent: w, prompt: one}, b: {agent: w, prompt: two, needs: a}}
        """,
    )
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)
    pm = plugins_with(function_provider("fake", replying(Usage(input_tokens=100, output_tokens=10))))
    run = await podium.arun(path, plugins=pm, store=store)
    expected = derive_rows(store.events(run.run_id), load_catalog())
    with sqlite3.connect(db) as raw:
        stored = raw.execute(
            "SELECT step, cost, status FROM cost_calls WHERE run_id=? ORDER BY seq", (run.run_id,)
        )
        assert [tuple(r) for r in stored] == [(r.step, str(r.cost), r.status) for r in expected]
        raw.execute("DELETE FROM cost_calls")
        raw.execute("DELETE FROM cost_runs")
    assert ledger_rows(store, load_catalog(), run_id=run.run_id) == expected  # derived again from events
    with Ledger.open(store) as ledger:
        assert ledger.rows(workflow="stored") == expected
    store.close()


async def test_a_new_catalog_reprices_the_stored_rows(write: Callable[..., Path], tmp_path: Path) -> None:
    path = write(
        "flow.yaml",
        "name: repriced\nagents: {w: {provider: fake, model: house-model}}\nsteps: {a: {agent: w}}\n",
    )
    store = SQLiteStore(tmp_path / "runs.db")
    pm = plugins_with(function_provider("fake", replying(Usage(input_tokens=1_000_000, output_tokens=0))))
    run = await podium.arun(path, plugins=pm, store=store)
    [unpriced] = ledger_rows(store, load_catalog(), run_id=run.run_id)
    assert unpriced.status == "unpriced"
    prices = write(
        "house.yaml",
        """
        models:
          - {provider: fake, model: house-model, input_mtok: 0.5, output_mtok: 1, effective_from: 2020-01-01,
             source: our gateway}
        providers: {fake: null}
        """,
    )
    [priced] = ledger_rows(store, load_catalog([prices]), run_id=run.run_id)
    assert (priced.status, priced.cost) == ("priced", D("0.5"))
    store.close()


def test_the_fold_ignores_events_that_are_not_calls(catalog: PriceCatalog) -> None:
    ev = Events()
    ev.add(EventType.STEP_STARTED, "a", at=T0, agent="w", items=None)
    ev.add(EventType.CALL_STARTED, "a", 1, at=T0, provider="local", model="gpt-4o-mini", agent="w", item=None)
    ev.add(EventType.CALL_FAILED, "a", 1, at=T0, provider="local", item=None, kind="transient", message="x")
    ev.add(EventType.STEP_FAILED, "a", at=T0, kind="transient", message="x")
    assert derive_rows(ev.items, catalog) == []


async def test_a_mock_reply_to_an_unmapped_model_is_not_an_unpriced_call(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        # `house` is no model class (podium's table would map `fast` to a priced model on local)
        "name: m\nagents: {a: {model: house}, b: {model: house}}\n"
        "providers: {local: {models: {house: gpt-4o-mini}}}\n"
        "steps: {s: {agent: a, prompt: hi}, t: {agent: b, prompt: hi}}\n"
        "mock: {s: hello, t: there}\n"
    )
    unmapped = tmp_path / "unmapped.yaml"
    unmapped.write_text(flow.read_text().replace("providers: {local: {models: {house: gpt-4o-mini}}}\n", ""))
    store = SQLiteStore(tmp_path / "runs.db")
    catalog = load_catalog()
    mapped_run = await podium.arun(flow, store=store)
    mock_run = await podium.arun(unmapped, store=store)
    mapped = ledger_rows(store, catalog, run_id=mapped_run.run_id)
    mocked = ledger_rows(store, catalog, run_id=mock_run.run_id)
    store.close()
    # mapped to a real model: priced as what the calls would cost
    assert [r.status for r in mapped] == ["priced", "priced"] and all(r.cost for r in mapped)
    # a logical name with no price: not a priced call, and not an unpriced one either
    assert [r.status for r in mocked] == ["mock", "mock"] and all(r.cost == 0 for r in mocked)
    from podium.cost.report import run_cost_json

    summary = run_cost_json(mocked)
    assert summary["unpriced_calls"] == 0 and summary["mock_calls"] == 2 and summary["complete"]
    assert summary["unpriced"] == []


def test_a_call_whose_service_reported_no_usage_has_an_unknown_cost_not_zero(catalog: PriceCatalog) -> None:
    from podium.cost.report import run_cost_json, run_summary

    ev = Events(workflow="w")
    ev.call("ask", provider="vertex", model="gemini-2.5-flash", usage={}, native={"usage_unknown": True})
    ev.call("told", provider="vertex", model="gemini-2.5-flash", usage={"input_tokens": 1000})
    unknown, known = derive_rows(ev.items, catalog)
    assert (unknown.status, unknown.cost) == ("unknown", None)
    assert known.status == "priced" and known.cost
    summary = run_cost_json([unknown, known])
    assert summary["unknown_usage_calls"] == 1 and summary["complete"] is False
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(run_summary([unknown, known]))
    text = console.export_text()
    assert "+ 1 unknown" in text and "usage unknown: 1 call on vertex reported no token usage" in text
