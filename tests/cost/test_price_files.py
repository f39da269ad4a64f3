"""Bad price files and bad budgets: a clear error naming the file, the entry, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

import podium
from podium.core.calls import Usage
from podium.core.errors import BadInput, InputError, WorkflowError
from podium.core.store import MemoryStore
from podium.cost.catalog import Rate, load_catalog
from podium.cost.pricefile import PriceFileError
from podium.testing import function_provider

from .helpers import plugins_with, replying

GOOD = "effective_from: 2026-01-01, source: https://example.com/p"


def problems(write: Callable[..., Path], text: str) -> tuple[PriceFileError, Path]:
    path = write("prices.yaml", text)
    with pytest.raises(PriceFileError) as info:
        load_catalog([path])
    return info.value, path


def test_a_negative_price_names_the_file_line_and_entry(write: Callable[..., Path]) -> None:
    err, path = problems(
        write,
        f"""
        models:
          - {{provider: bedrock, model: acme.ok-v1, input_mtok: 1, output_mtok: 2, {GOOD}}}
          - {{provider: bedrock, model: acme.bad-v1, input_mtok: -1, output_mtok: 2, {GOOD}}}
        """,
    )
    [problem] = err.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 3, "models[1].input_mtok")
    assert "greater than or equal to 0" in problem.message and "acme.bad-v1" in problem.message
    assert problem.fix and "negative" in problem.fix
    assert str(path) in str(err) and ":3:" not in str(err).split("\n")[0]


def test_a_non_numeric_price_is_refused(write: Callable[..., Path]) -> None:
    err, _ = problems(
        write,
        f"""
        models:
          - {{provider: bedrock, model: acme.x-v1, input_mtok: cheap, output_mtok: 2, {GOOD}}}
          - {{provider: bedrock, model: acme.y-v1, input_mtok: 1, output_mtok: true, {GOOD}}}
        """,
    )
    messages = {p.field: p.message for p in err.problems}
    assert "must be a number of US dollars (got 'cheap')" in messages["models[0].input_mtok"]
    assert "not true/false" in messages["models[1].output_mtok"]


def test_an_unknown_provider_is_named_with_a_suggestion(write: Callable[..., Path]) -> None:
    err, _path = problems(
        write,
        f"""
        models:
          - {{provider: bedrok, model: acme.x-v1, input_mtok: 1, output_mtok: 2, {GOOD}}}
        """,
    )
    [problem] = err.problems
    assert problem.field == "models[0].provider" and problem.line == 2
    assert "unknown provider 'bedrok'; did you mean 'bedrock'?" in problem.message
    assert problem.fix and "providers:" in problem.fix


def test_overlapping_dates_for_one_model_are_refused(write: Callable[..., Path]) -> None:
    err, _path = problems(
        write,
        """
        models:
          - {provider: bedrock, model: acme.x-v1, input_mtok: 1, output_mtok: 2,
             effective_from: 2025-01-01, effective_to: 2025-08-01, source: https://example.com/a}
          - {provider: bedrock, model: acme.x-v1, input_mtok: 1, output_mtok: 3,
             effective_from: 2025-06-01, source: https://example.com/b}
        fees:
          - {provider: azure, name: sandbox, per: session, usd: 0.03, effective_from: 2025-01-01,
             source: https://example.com/c}
          - {provider: azure, name: sandbox, per: session, usd: 0.04, effective_from: 2025-01-01,
             source: https://example.com/d}
        """,
    )
    by_field = {p.field: p for p in err.problems}
    model = by_field["models[1]"]
    assert model.line == 4
    assert "effective 2025-06-01 overlaps the entry at" in model.message and "prices.yaml:2" in model.message
    assert model.fix and "effective_to" in model.fix
    assert "fees[1]" in by_field


def test_entries_missing_a_source_a_date_or_prices_are_refused(write: Callable[..., Path]) -> None:
    err, _ = problems(
        write,
        """
        models:
          - {provider: bedrock, model: a.x-v1, input_mtok: 1, output_mtok: 2, effective_from: 2025-01-01}
          - {provider: bedrock, model: a.y-v1, input_mtok: 1, source: https://example.com,
             effective_from: 2025-01-01}
          - {provider: bedrock, model: a.z-v1, input_mtok: 1, output_mtok: 2, same_as: a.x-v1,
             source: https://example.com, effective_from: 2025-01-01}
          - {provider: bedrock, model: a.w-v1, input_mtok: 1, output_mtok: 2, source: https://example.com,
             effective_from: 2025-02-01, effective_to: 2025-01-01}
          - {provider: bedrock, model: a.v-v1, input_mtok: 1, output_mtok: 2, source: https://example.com,
             effective_from: 2025-01-01, cost: 3}
        """,
    )
    text = str(err)
    assert "models[0].source: bedrock a.x-v1: Field required" in text
    assert "needs input_mtok and output_mtok" in text
    assert "either same_as or prices" in text
    assert "effective_to 2025-01-01 must be after effective_from 2025-02-01" in text
    assert "models[4].cost: bedrock a.v-v1: unknown key 'cost'" in text


def test_malformed_yaml_names_the_line(write: Callable[..., Path]) -> None:
    err, path = problems(write, "models:\n  - {provider: bedrock, model: [\n")
    assert err.problems[0].file == str(path) and "malformed YAML" in err.problems[0].message


def test_a_missing_price_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        load_catalog([tmp_path / "nope.yaml"])


def test_podium_toml_prices_inline_and_by_file(write: Callable[..., Path], tmp_path: Path) -> None:
    write(
        "team-prices.yaml",
        f"models:\n  - {{provider: local, model: team-model, input_mtok: 1, output_mtok: 1, {GOOD}}}\n",
    )
    config = write(
        "podium.toml",
        """
        [prices]
        files = ["team-prices.yaml"]

        [[prices.models]]
        provider = "local"
        model = "house-model"
        input_mtok = 0.5
        output_mtok = "1.5"
        effective_from = 2026-01-01
        source = "our gateway's price list"
        """,
    )
    catalog = load_catalog(config=config)
    house = catalog.rate("local", "house-model", date(2026, 6, 1))
    assert isinstance(house, Rate)
    assert house.cost(Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == D("2.0")
    assert isinstance(catalog.rate("local", "team-model", date(2026, 6, 1)), Rate)


def test_a_bad_entry_in_podium_toml_names_the_file_and_entry(write: Callable[..., Path]) -> None:
    config = write(
        "podium.toml",
        """
        [[prices.models]]
        provider = "local"
        model = "house-model"
        input_mtok = -2
        output_mtok = 1
        effective_from = 2026-01-01
        source = "x"
        """,
    )
    with pytest.raises(PriceFileError) as info:
        load_catalog(config=config)
    [problem] = info.value.problems
    assert (problem.file, problem.field) == (str(config), "prices.models[0].input_mtok")


# --- budgets of 0 or less ------------------------------------------------------------------------


def test_a_workflow_budget_of_zero_names_the_file_and_entry(write: Callable[..., Path]) -> None:
    path = write(
        "flow.yaml",
        """
        name: t
        budget: {run: 0, daily: -1}
        agents: {a: {model: gpt-4o-mini}}
        steps: {s: {agent: a, prompt: hi}}
        """,
    )
    with pytest.raises(WorkflowError) as info:
        podium.load(path)
    fields = {p.field: p for p in info.value.problems}
    assert fields["budget.run"].line == 2 and "greater than 0" in fields["budget.run"].message
    assert "budget.daily" in fields


@pytest.mark.parametrize("budget", [D(0), D("-1"), "abc", True, "NaN"])
async def test_a_budget_setting_of_zero_or_less_is_bad_input_and_nothing_runs(
    write: Callable[..., Path], budget: object
) -> None:
    # a malformed budget is the caller's mistake, not an overspend: it is an InputError (exit 2),
    # raised where settings are parsed or, for a library caller's dict, by the cost plugin before
    # the first call (tests/cost/test_budget_settings.py holds the plugin to that)
    path = write(
        "flow.yaml", "name: t\nagents: {a: {provider: fake, model: gpt-4o-mini}}\nsteps: {s: {agent: a}}\n"
    )
    calls: list[str] = []
    pm = plugins_with(function_provider("fake", replying(Usage(), calls=calls)))
    store = MemoryStore()
    with pytest.raises(InputError) as info:
        await podium.arun(path, plugins=pm, store=store, settings={"budget": budget})
    assert calls == [] and store.runs() == []
    assert "not a budget: it must be a positive amount" in info.value.message
    assert info.value.fix == "give a positive amount, e.g. --budget 0.50"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("files", ["5", '{a = "b"}', "[1, 2]"])
def test_podium_toml_prices_files_of_a_wrong_type_names_the_key(
    write: Callable[..., Path], files: str
) -> None:
    config = write("podium.toml", f"[prices]\nfiles = {files}\n")
    with pytest.raises(PriceFileError) as info:
        load_catalog(config=config)
    [problem] = info.value.problems
    assert problem.file == str(config) and problem.field == "prices.files"
    assert "files = [" in (problem.fix or "")
