"""The command line: `podium run`'s cost summary and --json cost, `podium cost`, `podium prices`, budgets."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "examples" / "research" / "research.yaml")


def podium(*args: str, db: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=db, cwd=cwd, env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """The README demo run once, in a database of its own: (database, `show --json`, run's stdout)."""
    db = tmp_path_factory.mktemp("cost-cli") / "runs.db"
    done = podium("run", DEMO, "-q", db=db)
    assert done.returncode == 0, done.stderr
    shown = podium("show", "latest", "--json", db=db)
    return db, json.loads(shown.stdout), done.stdout


def test_run_prints_the_runs_cost_per_step_and_total(demo: tuple[Path, dict, str]) -> None:
    lines = demo[2].splitlines()
    summary = "\n".join(lines[next(i for i, line in enumerate(lines) if line.strip() == "cost") :])
    # draft: 240 tokens in, 180 out on claude-sonnet-4-5 ($3 / $15 per MTok), from the mock's usage
    draft = next(line for line in summary.splitlines() if "draft" in line)
    assert "claude-sonnet-4-5" in draft and "240" in draft and "180" in draft and "$0.00342" in draft
    review = next(line for line in summary.splitlines() if "review" in line)
    assert "2 (1 retry)" in review
    words = next(line for line in summary.splitlines() if "words" in line)
    assert "free" in words  # a python function
    total = next(line for line in summary.splitlines() if "total" in line)
    assert f"${demo[1]['cost']['total_usd']}" in total


def test_show_json_carries_the_runs_cost(demo: tuple[Path, dict, str]) -> None:
    db, run, _ = demo
    cost = run["cost"]
    assert cost["currency"] == "USD" and cost["complete"] is True
    assert D(cost["steps"]["draft"]["cost_usd"]) == D("0.00342")
    assert cost["steps"]["review"]["calls"] == 2 and cost["steps"]["review"]["retries"] == 1
    assert D(cost["total_usd"]) == sum(D(s["cost_usd"]) for s in cost["steps"].values())
    assert cost["input_tokens"] == run["usage"]["input_tokens"]
    shown = podium("show", run["run_id"], db=db)
    assert "$0.00342" in shown.stdout  # the text view too


def test_podium_cost_reports_from_the_database(demo: tuple[Path, dict, str]) -> None:
    db, run, _ = demo
    table = podium("cost", db=db)
    assert table.returncode == 0, table.stderr
    assert "research-and-write" in table.stdout and "total" in table.stdout

    by_step = json.loads(podium("cost", run["run_id"], "--format", "json", db=db).stdout)
    steps = {g["step"]: g for g in by_step["groups"]}
    assert steps["draft"]["cost_usd"] == run["cost"]["steps"]["draft"]["cost_usd"]
    assert by_step["total"]["cost_usd"] == run["cost"]["total_usd"]

    rows = list(
        csv.DictReader(io.StringIO(podium("cost", "--by", "provider,model", "--format", "csv", db=db).stdout))
    )
    assert {(r["provider"], r["model"]) for r in rows} >= {
        ("local", "claude-haiku-4-5"),
        ("local", "claude-sonnet-4-5"),
    }
    assert sum(D(r["cost_usd"]) for r in rows) == D(run["cost"]["total_usd"])

    what_if = json.loads(
        podium("cost", "latest", "--by", "model", "--as-provider", "bedrock", "--json", db=db).stdout
    )
    assert D(what_if["total"]["as_bedrock_usd"]) > D(run["cost"]["total_usd"])  # Bedrock's in-region premium
    assert {m["as_model"] for m in what_if["mappings"] if m["model"]} >= {
        "anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0",
    }  # fmt: skip

    recent = json.loads(
        podium("cost", "--since", "1d", "--workflow", "research-and-write", "--json", db=db).stdout
    )
    assert recent["total"]["cost_usd"] == run["cost"]["total_usd"]
    none = json.loads(podium("cost", "--workflow", "nope", "--json", db=db).stdout)
    assert none["groups"] == [] and none["total"]["calls"] == 0


def test_podium_prices_shows_what_applies_and_where_it_came_from(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    applies = json.loads(
        podium(
            "prices", "--provider", "bedrock", "--model", "cohere.command-r-plus-v1:0", "--json", db=db
        ).stdout
    )
    assert applies["applies"]["priced"] is True
    assert (applies["applies"]["input_mtok"], applies["applies"]["origin"]) == ("3.0", "podium prices.yaml")
    local = json.loads(podium("prices", "--provider", "local", "--model", "fast", "--json", db=db).stdout)
    assert local["applies"]["priced"] is False and "'fast'" in local["applies"]["reason"]
    table = podium("prices", "--provider", "vertex", db=db)
    assert table.returncode == 0 and "gemini-2.0-flash" in table.stdout and "Agent Engine" in table.stdout
    unknown = podium("prices", "--provider", "bedrok", db=db)
    assert unknown.returncode == 2 and "did you mean 'bedrock'" in unknown.stderr
    bad_date = podium("prices", "--at", "2026-02-30", db=db)  # named as --at, not --since
    assert bad_date.returncode == 2 and "error: --at 2026-02-30: not a duration or a date" in bad_date.stderr


def test_a_bad_price_file_exits_2_naming_the_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "models:\n  - {provider: local, model: m, input_mtok: -1, output_mtok: 1,"
        " effective_from: 2026-01-01, source: x}\n"
    )
    done = podium("cost", "--prices", str(bad), db=tmp_path / "runs.db")
    assert done.returncode == 2
    assert f"{bad}:2: models[0].input_mtok: local m:" in done.stderr and "Traceback" not in done.stderr


def test_podium_toml_prices_apply_to_runs_and_reports(tmp_path: Path) -> None:
    (tmp_path / "podium.toml").write_text(
        '[[prices.models]]\nprovider = "local"\nmodel = "house-model"\ninput_mtok = 1\noutput_mtok = 2\n'
        'effective_from = 2020-01-01\nsource = "our gateway"\n'
    )
    (tmp_path / "flow.yaml").write_text(
        "name: house\nagents: {w: {model: house-model}}\nsteps: {a: {agent: w, prompt: hi}}\n"
        "mock: {a: {reply: hello, usage: {input_tokens: 1000, output_tokens: 1000}}}\n"
    )
    done = podium("run", "flow.yaml", "--json", db=tmp_path / "runs.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cost"]["total_usd"] == "0.003"


def test_a_budget_too_small_stops_the_run_with_its_advice(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    done = podium("run", DEMO, "--budget", "0.001", "-q", db=db)
    assert done.returncode == 1
    assert "stopped" in done.stdout
    flat = " ".join(done.stdout.split())
    assert "would take the run past its $0.001 budget" in flat
    # one fix, not two that disagree
    assert flat.count("podium resume") == 1 and "--budget 0." in flat.split("podium resume")[1][:60]
    shown = json.loads(podium("show", "latest", "--json", db=db).stdout)
    assert shown["status"] == "stopped" and shown["error"]["kind"] == "budget"
    zero = podium("run", DEMO, "--budget", "0", db=db)
    assert zero.returncode == 2 and "positive amount" in zero.stderr


@pytest.mark.parametrize("width", [80, 120, 200])
def test_prices_are_one_line_each_and_a_search_that_finds_some_is_not_called_unpriced(
    tmp_path: Path, width: int
) -> None:
    env = {**os.environ, "PODIUM_DB": str(tmp_path / "db"), "NO_COLOR": "1", "COLUMNS": str(width)}
    done = subprocess.run(
        [sys.executable, "-m", "podium", "prices", "--provider", "bedrock", "--model", "haiku"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= width for line in lines)
    assert not lines[0].startswith("bedrock haiku: unpriced") and "match it" in lines[0]
    rows = [line for line in lines if "claude-haiku-4-5-20251001" in line]
    ids = [next(cell.strip() for cell in line.split("│") if "haiku" in cell) for line in rows]
    assert ids and all(i.endswith("v1:0") for i in ids)  # whole model ids, one line a price
    assert all("$1.00" in line and "$5.00" in line for line in rows if "global.anthropic" in line)
