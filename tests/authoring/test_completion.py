"""Shell completion through click's own mechanism: commands, files, run ids (newest first), step ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.testing import run_cli

FLOW = """
name: gate
agents:
  writer: {model: m}
steps:
  draft: {agent: writer, prompt: hi}
  review: {agent: writer, prompt: hi}
  signoff: {needs: [draft, review], approval: Ship it?}
  publish: {agent: writer, needs: [signoff], prompt: go}
mock: {draft: d, review: r, publish: p}
"""


def complete(words: str, db: Path, cwd: Path | None = None) -> list[tuple[str, str, str]]:
    """What bash completion offers after `words` (click's bash_complete protocol): (type, value, help)."""
    parts = words.split(" ")
    done = subprocess.run(
        [sys.executable, "-m", "podium"],
        env={
            **os.environ,
            "_PODIUM_COMPLETE": "zsh_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            "PODIUM_DB": str(db),
        },
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines() if done.stdout.strip() else []
    return [(lines[i], lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    base = tmp_path_factory.mktemp("completion")
    flow = base / "gate.yaml"
    flow.write_text(FLOW)
    db = base / "runs.db"
    ids = [json.loads(run_cli("run", str(flow), "-q", "--json", db=db).stdout)["run_id"] for _ in range(3)]
    run_cli("approve", ids[0], "signoff", db=db)
    return db, ids


def test_command_names_complete() -> None:
    offered = {value for _, value, _ in complete("podium ap", Path("/nonexistent/runs.db"))}
    assert offered == {"approve"}
    offered = {value for _, value, _ in complete("podium gr", Path("/nonexistent/runs.db"))}
    assert offered == {"graph"}


def test_run_ids_complete_newest_first_with_workflow_and_status(runs: tuple[Path, list[str]]) -> None:
    db, ids = runs
    offered = complete("podium show ", db)
    assert [value for _, value, _ in offered] == ids[::-1]
    assert offered[0][2] == "gate · waiting"
    prefix = ids[1][: len(ids[1]) - 2]
    assert ids[1] in [v for _, v, _ in complete(f"podium resume {prefix}", db)]
    # plugins' commands complete run ids too
    assert [v for _, v, _ in complete("podium trace ", db)] == ids[::-1]
    assert [v for _, v, _ in complete("podium cost ", db)] == ids[::-1]


def test_approve_completes_only_the_steps_waiting_for_a_decision(runs: tuple[Path, list[str]]) -> None:
    db, ids = runs
    assert [(v, h) for _, v, h in complete(f"podium approve {ids[2]} ", db)] == [
        ("signoff", "waiting for a decision")
    ]
    assert [v for _, v, _ in complete(f"podium reject {ids[0]} ", db)] == []  # already decided


def test_show_step_completes_every_step_of_the_run(runs: tuple[Path, list[str]]) -> None:
    db, ids = runs
    offered = [v for _, v, _ in complete(f"podium show {ids[2]} --step ", db)]
    assert set(offered) == {"draft", "review", "signoff"}  # publish has not started
    assert [v for _, v, _ in complete(f"podium show {ids[2]} --step re", db)] == ["review"]


def test_workflow_files_complete_as_files(tmp_path: Path) -> None:
    assert complete("podium run ", tmp_path / "runs.db") == [("file", "", "_")]


def test_completion_with_no_database_offers_nothing_and_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "none" / "runs.db"
    assert complete("podium show ", db) == []
    assert complete("podium approve abc ", db) == []
    assert not db.exists() and not db.parent.exists()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_podium_completion_prints_the_shells_script(shell: str, tmp_path: Path) -> None:
    done = run_cli("completion", shell, db=tmp_path / "runs.db")
    assert done.returncode == 0, done.stderr
    assert "_PODIUM_COMPLETE" in done.stdout and f"{shell}_complete" in done.stdout
