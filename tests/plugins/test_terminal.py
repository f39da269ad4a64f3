"""What an agent says reaches a person's terminal as text: no escape codes, no rich markup, no crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import podium
from podium import cli as podium_cli
from podium.plugins.terminal import printable

# an agent's reply that sets the terminal's title, turns text red, clears the screen and hides a
# link (OSC 8); and rich markup, whose lone closing tag is a MarkupError when read as markup
HOSTILE = (
    "\x1b]0;pwned\x07\x1b[31mRED\x1b[2J \x1b]8;;http://evil.example\x07link\x1b]8;;\x07"
    " \x9b31m [/] [bold]B[/]"
)

FLOW = """\
name: hostile
agents:
  w: {instructions: write}
  e: {function: hostile_agents:boom}
steps:
  a: {agent: w, prompt: a}
  gate:
    needs: [a]
    approval: {message: "publish {{ steps.a.output }}?"}
  b: {agent: e, prompt: b, needs: [gate]}
mock:
  a: {reply: REPLY}
"""

AGENTS = """\
def boom(prompt: str) -> str:
    raise RuntimeError("REPLY")
"""


@pytest.fixture
def hostile_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    escaped = HOSTILE.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    (tmp_path / "flow.yaml").write_text(FLOW.replace("REPLY", f'"{escaped}"'), encoding="utf-8")
    (tmp_path / "hostile_agents.py").write_text(AGENTS.replace("REPLY", escaped), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    db = tmp_path / "runs.db"
    run = podium.run(tmp_path / "flow.yaml", store=db)
    assert run.steps["a"].output == HOSTILE and run.status == "waiting"
    podium.decide(run.run_id, "gate", "approved", store=db)
    failed = podium.resume(run.run_id, store=db)
    assert failed.steps["b"].error is not None and HOSTILE in failed.steps["b"].error.message
    podium.run(tmp_path / "flow.yaml", store=db)  # and one waiting for a person
    return run.run_id, db


@pytest.mark.parametrize(
    "args",
    [["show", "RUN"], ["show", "RUN", "--step", "a"], ["show", "RUN", "--step", "b"], ["runs", "--waiting"]],
)
def test_what_an_agent_says_is_shown_without_its_escape_codes(
    hostile_run: tuple[str, Path], args: list[str]
) -> None:
    run_id, db = hostile_run
    argv = [run_id if a == "RUN" else a for a in args] + ["--db", str(db)]
    done = CliRunner().invoke(podium_cli.cli, argv, env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    assert "RED" in done.output and "[/] [bold]B[/]" in done.output  # the text, as it was
    assert not any(c in done.output for c in "\x1b\x07\x9b")


def test_an_error_is_echoed_with_its_control_characters_spelled_out() -> None:
    assert printable("a\x1b[31mb\x07\tc\n") == "a\\x1b[31mb\\x07\tc\n"
