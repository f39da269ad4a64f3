"""`podium cost RUN1 RUN2 --as-provider bedrock,azure`: runs side by side, a what-if column per provider.

Two real runs of one workflow through `podium.run` (the local provider's mock replies) into a SQLite
store: the first on podium's model classes (`fast` is gpt-4o-mini on local), the second with a
user's class file making `fast` gemini-2.5-flash, so its what-ifs need the model-class fallback.
Expected dollars are worked out here from the catalog's per-token rates, not through `Rate.cost`.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

import podium
from podium.core.store import open_store
from podium.cost.catalog import PriceCatalog, Rate, load_catalog
from podium.cost.ledger import ledger_rows
from podium.cost.model_classes import load_model_classes
from podium.testing import run_cli

FLOW = """\
name: compare
agents:
  quick: {model: fast}
  strong: {model: smart}
steps:
  a: {agent: quick, prompt: hi}
  b: {agent: strong, prompt: "{{ steps.a.output }}", needs: [a]}
mock:
  a: {reply: hello, usage: {input_tokens: 1000, output_tokens: 400}}
  b: {reply: done, usage: {input_tokens: 2000, output_tokens: 800}}
"""
# the mock's usage, by the class each step's agent asks for
USAGE = {"fast": (1000, 400), "smart": (2000, 800)}
CLASSES = "classes:\n  fast:\n    models:\n      local: gemini-2.5-flash\n"
# prices.yaml's equivalents for what these runs call on local (OpenAI models: comparable on Bedrock)
EQUIVALENT = {
    ("gpt-4o-mini", "bedrock"): "amazon.nova-lite-v1:0",
    ("gpt-4o", "bedrock"): "amazon.nova-pro-v1:0",
    ("gpt-4o-mini", "azure"): "gpt-4o-mini",
    ("gpt-4o", "azure"): "gpt-4o",
}


@dataclass(frozen=True)
class Runs:
    db: Path
    classes: Path
    plain: str  # fast → gpt-4o-mini (podium's table)
    gemini: str  # fast → gemini-2.5-flash (the user's class file)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("cost-compare")
    flow, classes, db = folder / "flow.yaml", folder / "classes.yaml", folder / "runs.db"
    flow.write_text(FLOW)
    classes.write_text(CLASSES)
    plain = podium.run(flow, store=db)
    gemini = podium.run(flow, store=db, model_classes=[classes])
    assert (plain.status, gemini.status) == ("succeeded", "succeeded")
    return Runs(db, classes, plain.run_id, gemini.run_id)


def cost(runs: Runs, *args: str, classes: bool = True) -> subprocess.CompletedProcess[str]:
    """`podium cost ARGS` with the user's class file in $PODIUM_MODEL_CLASSES (as `podium run` reads it)."""
    env = {"COLUMNS": "220", "PODIUM_MODEL_CLASSES": str(runs.classes) if classes else ""}
    return run_cli("cost", *args, db=runs.db, env=env)


def expected(catalog: PriceCatalog, target: str, model: str, usage: tuple[int, int]) -> D:
    rate = catalog.rate(target, model, datetime.now(UTC))
    assert isinstance(rate, Rate) and rate.input_mtok is not None and rate.output_mtok is not None
    return (usage[0] * rate.input_mtok + usage[1] * rate.output_mtok) / D(1_000_000)


def test_several_runs_side_by_side_total_each_runs_ledger(runs: Runs) -> None:
    done = cost(runs, runs.plain, runs.gemini, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["by"] == ["run"]  # several runs and no --by: a line a run, in the order given
    assert [g["run"] for g in data["groups"]] == [runs.plain, runs.gemini]
    catalog = load_catalog()
    store = open_store(runs.db)
    try:
        for group in data["groups"]:
            rows = ledger_rows(store, catalog, run_id=group["run"])
            assert D(group["cost_usd"]) == sum(r.cost for r in rows if r.cost is not None) > 0
            assert group["calls"] == len(rows) == 2
    finally:
        store.close()
    assert D(data["total"]["cost_usd"]) == sum(D(g["cost_usd"]) for g in data["groups"])

    prefix = cost(runs, runs.plain[:-2], "latest", "--by", "run,provider", "--json")
    assert [(g["run"], g["provider"]) for g in json.loads(prefix.stdout)["groups"]] == [
        (runs.plain, "local"),
        (runs.gemini, "local"),
    ]
    one = json.loads(cost(runs, runs.gemini, "--json").stdout)
    assert one["by"] == ["step"]  # one run: its steps, as before


def test_each_what_if_column_prices_the_same_usage_at_the_targets_model(runs: Runs) -> None:
    done = cost(runs, runs.plain, runs.gemini, "--by", "run", "--as-provider", "bedrock,azure", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["as_providers"] == ["bedrock", "azure"] and data["as_provider"] == "bedrock,azure"
    catalog, table = load_catalog(), load_model_classes([runs.classes])
    called = {runs.plain: {"fast": "gpt-4o-mini", "smart": "gpt-4o"}, runs.gemini: {"smart": "gpt-4o"}}
    for group in data["groups"]:
        for target in ("bedrock", "azure"):
            models = {cls: EQUIVALENT[(model, target)] for cls, model in called[group["run"]].items()} | (
                {} if group["run"] == runs.plain else {"fast": table.model("fast", target)}
            )
            want = sum(expected(catalog, target, models[cls], USAGE[cls]) for cls in USAGE)
            assert D(group[f"as_{target}_usd"]) == want, (group["run"], target)
            assert group[f"as_{target}_unpriced_calls"] == 0
    for target in ("bedrock", "azure"):
        assert D(data["total"][f"as_{target}_usd"]) == sum(D(g[f"as_{target}_usd"]) for g in data["groups"])

    table_text = cost(runs, runs.plain, runs.gemini, "--as-provider", "bedrock", "--as-provider", "azure")
    header = next(line for line in table_text.stdout.splitlines() if "calls" in line and "retries" in line)
    assert "as bedrock" in header and "as azure" in header  # a column each, repeated or comma-separated
    assert (
        json.loads(
            cost(
                runs, runs.plain, runs.gemini, "--as-provider", "bedrock", "--as-provider", "azure", "--json"
            ).stdout
        )["groups"]
        == data["groups"]
    )


def test_a_model_class_model_is_priced_as_that_class_on_the_target(runs: Runs) -> None:
    data = json.loads(cost(runs, runs.gemini, "--as-provider", "bedrock,azure", "--json").stdout)
    mapped = {(m["as_provider"], m["model"]): m for m in data["mappings"]}
    bedrock_fast = load_model_classes().model("fast", "bedrock")
    gemini = mapped[("bedrock", "gemini-2.5-flash")]
    assert (gemini["as_model"], gemini["basis"], gemini["model_class"]) == (
        bedrock_fast,
        "model class fast",
        "fast",
    )
    assert mapped[("azure", "gemini-2.5-flash")]["as_model"] == "gpt-4o-mini"
    step_a = next(g for g in data["groups"] if g["step"] == "a")
    assert D(step_a["as_bedrock_usd"]) == expected(load_catalog(), "bedrock", bedrock_fast, USAGE["fast"])

    table = cost(runs, runs.gemini, "--as-provider", "bedrock")
    note = f"as bedrock: local gemini-2.5-flash → bedrock {bedrock_fast} (model class fast)"
    assert note in table.stdout

    # the equivalents table still answers first: gpt-4o-mini is local's fast, and Nova Lite its equivalent
    plain = json.loads(cost(runs, runs.plain, "--as-provider", "bedrock", "--json").stdout)
    mini = next(m for m in plain["mappings"] if m["model"] == "gpt-4o-mini")
    assert (mini["as_model"], mini["basis"], mini["model_class"]) == (
        "amazon.nova-lite-v1:0",
        "comparable",
        None,
    )

    # without the user's table gemini-2.5-flash is no class on local: nothing to price it as
    bare = json.loads(cost(runs, runs.gemini, "--as-provider", "bedrock", "--json", classes=False).stdout)
    assert bare["total"]["as_bedrock_unpriced_calls"] == 1
    # and --model-classes FILE gives the same table as $PODIUM_MODEL_CLASSES
    flag = cost(runs, runs.gemini, "--as-provider", "bedrock", "--model-classes", str(runs.classes), "--json",
                classes=False)  # fmt: skip
    flagged = json.loads(flag.stdout)["total"]
    assert (flagged["as_bedrock_usd"], flagged["as_bedrock_unpriced_calls"]) == (
        data["total"]["as_bedrock_usd"],
        0,
    )


def test_one_as_provider_keeps_its_field_names(runs: Runs) -> None:
    data = json.loads(cost(runs, runs.plain, "--as-provider", "bedrock", "--json").stdout)
    assert data["as_provider"] == "bedrock"
    fields = ["cost_usd", "as_bedrock_usd", "as_bedrock_unpriced_calls"]
    assert list(data["total"])[-3:] == fields
    assert all(list(g)[-3:] == fields for g in data["groups"])
    assert {"provider", "model", "as_model", "basis", "calls"} <= set(data["mappings"][0])
    header = next(
        csv.reader(io.StringIO(cost(runs, runs.plain, "--as-provider", "bedrock", "--format", "csv").stdout))
    )
    assert header[-3:] == fields


def test_bad_input_names_what_is_wrong_and_what_would_do(runs: Runs) -> None:
    bad = cost(runs, runs.plain, "--as-provider", "bedrock,bedrok,azure")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        "--as-provider bedrok: not a provider with prices of its own; did you mean 'bedrock'?" in bad.stderr
    )
    assert "bedrock, vertex, azure" in bad.stderr
    missing = cost(runs, runs.plain, "nope", "--as-provider", "bedrock")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    assert runs.gemini in missing.stderr  # RunNotFound lists the recent runs
