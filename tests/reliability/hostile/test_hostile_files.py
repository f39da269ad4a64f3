"""Hostile workflow files (issue 16): each is refused with a clear error, or fails its step cleanly.

The files are kept next to this module; each case failed (a hang, a traceback, a network fetch, user
code run by `validate`) before podium guarded against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.core.errors import WorkflowError
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
