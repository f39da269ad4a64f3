"""The cost plugin as an object: one per plugin manager, light to load, and its piece of `podium show`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

import podium
from podium import cli as podium_cli
from podium.core.calls import Usage
from podium.core.spec import Workflow
from podium.core.store import MemoryStore, open_store
from podium.plugins.manager import DEFAULT_PLUGINS, load_plugins
from podium.testing import function_provider

from .helpers import COST_PLUGIN, cost_plugin, plugins_with, replying

ROOT = Path(__file__).resolve().parents[2]
# gpt-4o-mini is $0.15 in / $0.60 out per MTok: 1,000 in and 500 out cost $0.00045
WORKFLOW = {
    "name": "metered",
    "agents": {"w": {"provider": "fake", "model": "gpt-4o-mini"}},
    "steps": {"a": {"agent": "w", "prompt": "one"}, "b": {"agent": "w", "prompt": "two", "needs": "a"}},
}
CALL = Usage(input_tokens=1000, output_tokens=500)


def workflow(name: str = "metered") -> Workflow:
    return Workflow.model_validate({**WORKFLOW, "name": name})


def test_the_cost_plugin_is_a_built_in_class_made_once_per_manager() -> None:
    assert COST_PLUGIN in DEFAULT_PLUGINS
    one, two = load_plugins(entry_points_too=False), load_plugins(entry_points_too=False)
    assert type(cost_plugin(one)).__name__ == "CostPlugin"
    assert cost_plugin(one) is not cost_plugin(two)
    assert cost_plugin(one).meter() is not cost_plugin(two).meter()
    assert cost_plugin(one).meter() is cost_plugin(one).meter()


async def test_two_plugin_managers_in_one_process_keep_separate_tallies() -> None:
    provider = function_provider("fake", replying(CALL))
    one, two = plugins_with(provider), plugins_with(provider)
    store = MemoryStore()
    first, second = await asyncio.gather(
        podium.arun(workflow("first"), plugins=one, store=store),
        podium.arun(workflow("second"), plugins=two, store=store),
    )
    assert first.ok and second.ok
    mine, theirs = cost_plugin(one).meter(), cost_plugin(two).meter()
    assert [r.workflow for r in mine.rows_for(first.run_id) or []] == ["first", "first"]
    assert [r.workflow for r in theirs.rows_for(second.run_id) or []] == ["second", "second"]
    assert mine.rows_for(second.run_id) is None and theirs.rows_for(first.run_id) is None
    assert list(mine.recent) == [first.run_id] and list(theirs.recent) == [second.run_id]

    # each manager's summary of its own run comes from its tally: even a store without the run serves
    empty = MemoryStore()
    (part,) = one.hook.podium_run_summary(run=first, store=empty)
    assert part.name == "cost" and D(part.data["total_usd"]) == D("0.0009")
    (other,) = two.hook.podium_run_summary(run=first, store=empty)
    assert other.data is None  # the second manager never saw the first run, and the store has none of it


def test_importing_and_constructing_the_cost_plugin_loads_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from podium.cost.plugin import CostPlugin\n"
        "from podium.plugins.manager import load_plugins\n"
        "CostPlugin()\n"
        "load_plugins(entry_points_too=False)\n"
        "heavy = ('genai_prices', 'rich', 'podium.cost.catalog', 'podium.cost.budget', 'ruamel')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture
def ran(tmp_path: Path) -> tuple[Path, str]:
    """A run of two priced calls in a database of its own: (database, run id)."""
    db = tmp_path / "runs.db"
    store = open_store(db)
    try:
        run = podium.run(
            workflow(), plugins=plugins_with(function_provider("fake", replying(CALL))), store=store
        )
    finally:
        store.close()
    assert run.ok
    return db, run.run_id


def show(pm: object, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(podium_cli._State, "plugins", pm)
    done = CliRunner().invoke(podium_cli.cli, ["show", *args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    return done.exit_code, done.stdout


def test_show_json_carries_the_cost_plugins_piece(
    ran: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run_id = ran
    pm = load_plugins(entry_points_too=False)
    code, out = show(pm, run_id, "--json", "--db", str(db), monkeypatch=monkeypatch)
    assert code == 0, out
    cost = json.loads(out)["cost"]
    assert D(cost["total_usd"]) == D("0.0009") and cost["complete"] is True
    assert cost["steps"]["a"]["calls"] == 1 and D(cost["steps"]["b"]["cost_usd"]) == D("0.00045")
    code, text = show(pm, run_id, "--db", str(db), monkeypatch=monkeypatch)
    assert code == 0 and "$0.0009" in text and "total" in text


def test_without_the_cost_plugin_show_works_and_cost_is_null(
    ran: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run_id = ran
    pm = load_plugins(entry_points_too=False)
    pm.pm.unregister(name=COST_PLUGIN)
    code, out = show(pm, run_id, "--json", "--db", str(db), monkeypatch=monkeypatch)
    assert code == 0, out
    data = json.loads(out)
    assert data["cost"] is None  # the field stays, null, for scripts
    assert data["status"] == "succeeded" and set(data["steps"]) == {"a", "b"}
    code, text = show(pm, run_id, "--db", str(db), monkeypatch=monkeypatch)
    assert code == 0 and run_id in text and "2 steps" in text
    assert "$" not in text  # no cost table


def test_podium_load_plugins_limits_installed_plugins_not_the_built_in_cost(ran: tuple[Path, str]) -> None:
    db, run_id = ran
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PODIUM_LOAD_PLUGINS": "", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "podium", "show", run_id, "--json", "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["run_id"] == run_id and D(data["cost"]["total_usd"]) == D("0.0009")
