"""Reports: roll-ups equal the sum of their rows; CSV and JSON parse back; the --as-provider what-if."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from rich.console import Console

from podium.core.errors import BadInput
from podium.cost.catalog import PriceCatalog, Rate
from podium.cost.ledger import LedgerRow, derive_rows
from podium.cost.model_classes import ModelClasses, ModelClassFile, load_model_classes
from podium.cost.report import (
    DIMENSIONS,
    build_report,
    class_counterpart,
    parse_by,
    parse_since,
    render_table,
    run_cost_json,
    run_summary,
    to_csv,
    to_json,
)

from .helpers import Events


def sample_rows(catalog: PriceCatalog) -> list[LedgerRow]:
    """Two workflows over two days, several providers and models, a retry, an unpriced call."""
    rows: list[LedgerRow] = []
    day1, day2 = datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    a = Events("run-a", workflow="brief")
    a.call("research", model="claude-haiku-4-5", agent="researcher", at=day1,
           usage={"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 4000})  # fmt: skip
    a.call("draft", model="claude-sonnet-4-5", agent="writer", at=day1)
    a.call("draft", model="claude-sonnet-4-5", agent="writer", attempt=2, at=day1)
    a.call("polish", model="fast", agent="editor", at=day1)
    rows += derive_rows(a.items, catalog)
    b = Events("run-b", workflow="digest")
    b.call("fetch", provider="bedrock", model="amazon.nova-micro-v1:0", agent="reader", at=day2)
    b.call("sum", provider="azure", model="gpt-4o-mini", agent="writer", at=day2,
           usage={"input_tokens": 5000, "output_tokens": 700})  # fmt: skip
    rows += derive_rows(b.items, catalog)
    return rows


@pytest.mark.parametrize(
    "by", [("workflow",), ("provider", "model"), ("agent", "step"), ("day",), ("run",), DIMENSIONS]
)
def test_roll_ups_equal_the_sum_of_their_rows(catalog: PriceCatalog, by: tuple[str, ...]) -> None:
    rows = sample_rows(catalog)
    report = build_report(rows, by)
    priced = sum((r.cost for r in rows if r.cost is not None), D(0))
    assert sum((g.cost for g in report.groups), D(0)) == report.total.cost == priced
    assert sum(g.calls for g in report.groups) == report.total.calls == len(rows)
    for name in ("input_tokens", "output_tokens", "cache_read_tokens"):
        assert (
            sum(getattr(g, name) for g in report.groups)
            == getattr(report.total, name)
            == sum(getattr(r, name) for r in rows)
        )
    assert report.total.retries == 1 and report.total.unpriced_calls == 1


def test_csv_parses_back_to_the_same_numbers(catalog: PriceCatalog) -> None:
    rows = sample_rows(catalog)
    report = build_report(rows, ("workflow", "provider"))
    parsed = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [(p["workflow"], p["provider"]) for p in parsed] == [g.key for g in report.groups]
    assert sum(D(p["cost_usd"]) for p in parsed) == report.total.cost
    assert sum(int(p["input_tokens"]) for p in parsed) == report.total.input_tokens
    calls = list(csv.DictReader(io.StringIO(to_csv(build_report(rows, ("call",))))))
    assert len(calls) == len(rows)
    assert [c["cost_usd"] for c in calls] == ["" if r.cost is None else str(r.cost) for r in rows]


def test_json_parses_back_with_exact_money(catalog: PriceCatalog) -> None:
    rows = sample_rows(catalog)
    data = json.loads(json.dumps(to_json(build_report(rows, ("day",)))))
    assert data["currency"] == "USD" and data["by"] == ["day"]
    assert [g["day"] for g in data["groups"]] == ["2026-03-01", "2026-03-02"]
    assert sum(D(g["cost_usd"]) for g in data["groups"]) == D(data["total"]["cost_usd"])
    assert data["unpriced"] == [
        {"provider": "local", "model": "fast", "calls": 1, "reason": rows[3].price},
    ]
    calls = json.loads(json.dumps(to_json(build_report(rows, ("call",)))))["calls"]
    assert calls[0]["cost_usd"] == str(rows[0].cost) and calls[0]["at"] == "2026-03-01T10:00:00+00:00"


def test_as_provider_reprices_the_same_usage_on_equivalent_models(catalog: PriceCatalog) -> None:
    rows = sample_rows(catalog)
    report = build_report(rows, ("model",), catalog=catalog, as_provider="bedrock")
    by_model = {g.key[0]: g for g in report.groups}
    haiku = by_model["claude-haiku-4-5"]
    # Bedrock's in-region Haiku 4.5: $1.10 in, $5.50 out, $0.11 cached per MTok
    assert (
        haiku.what_ifs["bedrock"]
        == D("1200") * D("1.1") / 10**6 + D(300) * D("5.5") / 10**6 + D(4000) * D("0.11") / 10**6
    )
    mapped = {(m.provider, m.model): (m.target_model, m.basis) for m in report.mappings}
    assert mapped[("local", "claude-haiku-4-5")] == ("anthropic.claude-haiku-4-5-20251001-v1:0", "same model")
    assert mapped[("azure", "gpt-4o-mini")] == ("amazon.nova-lite-v1:0", "comparable")
    assert mapped[("bedrock", "amazon.nova-micro-v1:0")] == ("amazon.nova-micro-v1:0", "same model")
    assert "no bedrock equivalent" in mapped[("local", "fast")][1]
    assert by_model["fast"].what_ifs["bedrock"] is None and by_model["fast"].what_if_unpriced["bedrock"] == 1
    data = to_json(report)
    assert data["groups"][0]["as_bedrock_usd"] == str(report.groups[0].what_ifs["bedrock"])
    with pytest.raises(BadInput, match="--as-provider local"):
        build_report(rows, ("model",), catalog=catalog, as_provider="local")


def test_as_provider_falls_back_on_model_classes_where_the_equivalents_have_no_answer(
    catalog: PriceCatalog,
) -> None:
    run = Events("run-v", workflow="brief")
    run.call(
        "a", provider="vertex", model="gemini-2.5-flash", usage={"input_tokens": 1000, "output_tokens": 400}
    )
    run.call(
        "b", provider="vertex", model="gemini-2.5-pro", usage={"input_tokens": 2000, "output_tokens": 800}
    )
    rows = derive_rows(run.items, catalog)
    classes = load_model_classes()
    without = build_report(rows, ("step",), catalog=catalog, as_provider="bedrock")
    assert without.total.what_if_unpriced["bedrock"] == 1  # the equivalents table has no gemini-2.5-flash
    report = build_report(rows, ("step",), catalog=catalog, as_provider=["bedrock", "azure"], classes=classes)
    mapped = {(m.target, m.model): (m.target_model, m.basis, m.model_class) for m in report.mappings}
    fast = classes.model("fast", "bedrock")
    assert mapped[("bedrock", "gemini-2.5-flash")] == (fast, "model class fast", "fast")
    # gemini-2.5-pro is vertex's smart too, but the equivalents table has an answer, and it wins
    assert mapped[("bedrock", "gemini-2.5-pro")] == ("amazon.nova-pro-v1:0", "comparable", None)
    assert mapped[("azure", "gemini-2.5-flash")][0] == classes.model("fast", "azure")
    rate = catalog.rate("bedrock", fast, rows[0].at)
    assert isinstance(rate, Rate) and rate.input_mtok and rate.output_mtok
    assert report.groups[0].what_ifs["bedrock"] == (1000 * rate.input_mtok + 400 * rate.output_mtok) / 10**6
    data = to_json(report)
    assert [k for k in data["total"] if k.startswith("as_")] == [
        "as_bedrock_usd", "as_bedrock_unpriced_calls", "as_azure_usd", "as_azure_unpriced_calls",
    ]  # fmt: skip


def test_a_model_in_two_classes_is_priced_as_the_first_in_the_tables_order() -> None:
    table = ModelClasses().layered(
        "mine.yaml",
        ModelClassFile.model_validate(
            {"classes": {"smart": {"models": {"vertex": "g", "bedrock": "s"}},
                         "reasoning": {"models": {"vertex": "g", "bedrock": "r"}}}}
        ),
    )  # fmt: skip
    assert class_counterpart(table, "vertex", "G", "bedrock") == ("smart", "s")  # ids match as prices do
    assert class_counterpart(table, "vertex", "g", "azure") is None  # no class model there
    assert class_counterpart(table, "azure", "g", "bedrock") is None  # not a class model on azure


def test_tables_render_with_totals_and_unpriced_notes(catalog: PriceCatalog) -> None:
    rows = sample_rows(catalog)
    console = Console(width=200, record=True, color_system=None)
    console.print(render_table(build_report(rows, ("workflow",), title="cost by workflow")))
    console.print(render_table(build_report(rows, ("call",))))
    console.print(run_summary(rows[:4], ["research", "draft", "polish"]))
    text = console.export_text()
    assert "cost by workflow" in text and "total" in text
    assert "+ 1 unpriced" in text and "unpriced: 1 call to fast on local" in text
    assert "2 (1 retry)" in text


def test_the_run_json_cost(catalog: PriceCatalog) -> None:
    rows = sample_rows(catalog)[:4]
    cost = run_cost_json(rows)
    assert cost["total_usd"] == str(sum(r.cost for r in rows if r.cost is not None))
    assert cost["complete"] is False and cost["unpriced_calls"] == 1
    assert cost["steps"]["draft"]["calls"] == 2 and cost["steps"]["draft"]["retries"] == 1
    assert D(cost["steps"]["research"]["cost_usd"]) == rows[0].cost


def test_by_and_since_are_checked() -> None:
    assert parse_by("provider, model", "workflow") == ("provider", "model")
    assert parse_by(None, "step") == ("step",)
    with pytest.raises(BadInput, match="'modle' is not a dimension"):
        parse_by("provider,modle", "workflow")
    now = datetime(2026, 3, 10, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 3, 3, tzinfo=UTC)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    for far in ("99999999999d", "800000w"):  # past year 1 (once an OverflowError): all of it
        assert parse_since(far, now) == datetime.min.replace(tzinfo=UTC)
    with pytest.raises(BadInput, match="--since soon"):
        parse_since("soon", now)
