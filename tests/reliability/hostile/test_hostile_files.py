"""Hostile workflow files (issue 16): each is refused with a clear error, or fails its step cleanly.

The files are kept next to this module; each case failed (a hang, a traceback, a network fetch, user
code run by `validate`) before podium guarded against it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import podium
from podium.core.errors import WorkflowError
from podium.core.functions import import_function
from podium.core.loader import load, parse
from podium.testing import run_cli

HERE = Path(__file__).resolve().parent


def problems_of(path: Path) -> list[str]:
    with pytest.raises(WorkflowError) as caught:
        load(path)
    return [str(p) for p in caught.value.problems]


# --- finding 1: YAML that expands or nests without bound --------------------------------------


def test_an_alias_bomb_is_refused_with_exit_2_naming_the_file_and_line(tmp_path: Path) -> None:
    # the timeout only guards the suite: before the cap this took minutes and gigabytes
    done = run_cli("validate", str(HERE / "alias_bomb.yaml"), db=tmp_path / "runs.db", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "alias_bomb.yaml:12:" in done.stderr  # the alias that went over the budget
    assert "alias bomb" in done.stderr
    assert "Traceback" not in done.stderr


def test_shared_blocks_named_once_and_aliased_on_every_step_still_load() -> None:
    steps = "\n".join(f"  s{i}: {{agent: a, prompt: hi, retry: *retry}}" for i in range(300))
    wf = parse(
        "name: shared\nagents:\n  a: {instructions: x}\n"
        "defaults: {retry: &retry {attempts: 3, backoff: 0.5}}\n"
        f"steps:\n{steps}\n"
    )
    assert wf.steps["s299"].retry is not None and wf.steps["s299"].retry.attempts == 3


def test_an_anchor_holding_an_alias_of_itself_is_refused() -> None:
    with pytest.raises(WorkflowError) as caught:
        parse("name: r\nagents: &a [*a]\n", file="self.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 2 and "inside its own anchor" in problem.message


def test_nesting_300_levels_deep_is_a_clear_error_not_a_recursion_error() -> None:
    (problem,) = problems_of(HERE / "deep_nesting.yaml")
    assert "deep_nesting.yaml:6:" in problem
    assert "nests deeper than 100 levels" in problem


@pytest.mark.parametrize("layout", ["flow", "block"])
def test_nesting_a_hundred_thousand_levels_deep_is_refused_as_it_is_read(layout: str) -> None:
    n = 100_000
    body = "[" * n + "]" * n if layout == "flow" else "\n" + "- " * n + "x"
    with pytest.raises(WorkflowError) as caught:
        parse(f"name: d\nsteps: {body}\n", file="deep.yaml")
    (problem,) = caught.value.problems
    assert "nests deeper than 100 levels" in problem.message and problem.line is not None


# --- findings 8 and 9: the python a workflow names ---------------------------------------------


def test_a_json_py_next_to_the_workflow_serves_json_f_and_leaves_the_standard_json_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    shutil.copytree(HERE / "shadow", tmp_path / "shadow")
    run = podium.run(tmp_path / "shadow" / "shadow.yaml", store=tmp_path / "runs.db")
    assert run.ok, run.error
    assert run.steps["a"].output == "local json.f got hello"
    # what podium and everything else in the process import as json is still the standard one
    assert sys.modules["json"] is json and json.dumps([1]) == "[1]"
    local = import_function("json:f", tmp_path / "shadow")
    assert local.__module__.startswith("_podium_local_")  # the workflow's json, under a private name
    assert run.usage.input_tokens > 0  # the mocked writer's call was metered
    assert not [r for r in caplog.records if "metering" in r.getMessage()]  # "cost: metering … failed"


def test_validate_reads_the_functions_a_workflow_names_and_runs_none_of_them(tmp_path: Path) -> None:
    shutil.copytree(HERE / "side_effects", tmp_path / "fx")
    problems = problems_of(tmp_path / "fx" / "flow.yaml")
    assert len(problems) == 1 and "flow.yaml:5:" in problems[0]  # b names agents:missing
    assert "has no attribute 'missing'" in problems[0]
    assert not (tmp_path / "fx" / "IMPORTED").exists()  # agents.py was read, never run

    run = podium.run(tmp_path / "fx" / "run.yaml", store=tmp_path / "runs.db")
    assert run.ok and run.steps["s"].output == "answered hi"
    assert (tmp_path / "fx" / "IMPORTED").read_text() == "agents.py ran"  # imported at run time
