"""The command line a new user meets first, given what nobody tried: exit codes and messages."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import podium
from podium.cli import cli
from podium.testing import run_cli

FLOW = "name: tiny\nagents: {w: {}}\nsteps:\n  a: {agent: w, prompt: hi}\nmock: {w: ok}\n"


def _invoke(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", "PODIUM_DB": None})
    return done.exit_code, done.output


def test_a_set_value_of_the_wrong_type_says_what_to_write(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    db = str(tmp_path / "runs.db")
    code, out = _invoke("run", str(tmp_path / "flow.yaml"), "--set", "local.concurrency=abc", "--db", db)
    assert code == 2
    assert "--set: local.concurrency: Input should be a valid integer" in out
    assert "fix: write a whole number" in out


def test_a_decision_field_of_the_wrong_type_speaks_of_the_field_not_a_run_input(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        "name: ap\nagents: {w: {}}\nsteps:\n  a: {agent: w, prompt: x}\n"
        "  r: {needs: [a], approval: {fields: {n: {type: integer}}}}\nmock: {w: ok}\n"
    )
    db = str(tmp_path / "runs.db")
    assert podium.run(tmp_path / "flow.yaml", store=db).status == "waiting"
    code, out = _invoke("approve", "latest", "r", "--field", "n=abc", "--db", db)
    assert code == 2
    assert "step 'r': the field 'n' must be integer, got 'abc'" in out
    assert "--field n=<integer>" in out and "-i n=" not in out


def test_an_inputs_file_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    # Windows PowerShell's `Set-Content -Encoding utf8` writes one
    flow = "name: t\ninputs: {topic: {type: string}}\nagents: {w: {}}\nsteps:\n  a: {agent: w, prompt: hi}\n"
    (tmp_path / "flow.yaml").write_text(flow + "mock: {w: ok}\n")
    (tmp_path / "in.json").write_bytes(b'\xef\xbb\xbf{"topic": "tides"}')
    code, out = _invoke(
        "run", str(tmp_path / "flow.yaml"), "--inputs", str(tmp_path / "in.json"), "--json",
        "--db", str(tmp_path / "runs.db"),
    )  # fmt: skip
    assert code == 0, out
    assert '"topic": "tides"' in out


def test_validate_refuses_an_agent_a_provider_cannot_run_without_a_binding(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    code, out = _invoke("validate", str(tmp_path / "flow.yaml"), "--provider", "a2a")
    assert code == 2, out
    assert "agents.w: agent 'w' has no a2a binding (step a runs it on a2a)" in out
    assert "a2a: {url:" in out


def test_a_provider_left_out_by_podium_load_plugins_says_so_not_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW)
    # a process of its own: plugins load once a process, with the allow-list it starts with
    done = run_cli(
        "validate", str(tmp_path / "flow.yaml"), "--provider", "vertex",
        db=tmp_path / "runs.db", env={"PODIUM_LOAD_PLUGINS": "bedrock"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "PODIUM_LOAD_PLUGINS='bedrock' leaves it out: add vertex to it, or unset it" in done.stderr
