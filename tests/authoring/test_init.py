"""`podium init`: a starter that runs at once with no credentials, and never overwrites a file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from podium.testing import run_cli

TEMPLATES = ("minimal", "research", "triage")


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_then_run_succeeds_with_no_credentials(template: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    target = tmp_path / "flow"
    made = run_cli("init", str(target), "--template", template, db=db, env={"AWS_ACCESS_KEY_ID": ""})
    assert made.returncode == 0, made.stderr
    files = sorted(p.name for p in target.iterdir())
    workflow = next(target.glob("*.yaml"))
    assert {"README.md", "agents.py", "workflow.schema.json", workflow.name} == set(files)
    assert f"podium run {workflow}" in made.stdout

    # the editor line points at the schema written beside it, and the workflow passes it
    assert workflow.read_text().startswith("# yaml-language-server: $schema=./workflow.schema.json\n")
    schema = json.loads((target / "workflow.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(workflow.read_text()), schema)
    assert f"podium run {workflow.name}" in (target / "README.md").read_text()

    ran = run_cli("run", str(workflow), "--json", "-q", db=db, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded"
    assert all(step["status"] in ("succeeded", "skipped") for step in result["steps"].values())
    function_steps = [s for s in result["steps"].values() if s["provider"] == "local" and s["agent"]]
    assert function_steps, "each starter has a python function agent"
    outputs = {k: v for k, v in result["outputs"].items() if k != "escalated"}  # a skipped branch's
    assert all(value not in (None, "", [], {}) for value in outputs.values())


def test_the_triage_starter_branches_on_the_ticket(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_cli("init", str(tmp_path / "t"), "-t", "triage", db=db)
    flow = str(tmp_path / "t" / "triage.yaml")
    urgent = json.loads(run_cli("run", flow, "-q", "--json", "-i", "ticket=The app crashes", db=db).stdout)
    calm = json.loads(run_cli("run", flow, "-q", "--json", "-i", "ticket=How do I export?", db=db).stdout)
    assert (urgent["outputs"]["category"], urgent["steps"]["escalate"]["status"]) == ("bug", "succeeded")
    assert (calm["outputs"]["category"], calm["steps"]["escalate"]["status"]) == ("question", "skipped")


def test_init_refuses_a_folder_that_holds_anything_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "agents.py").write_text("KEEP = 1\n")
    refused = run_cli("init", str(target), db=tmp_path / "runs.db")
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and "agents.py" in refused.stderr
    assert "podium init my-flow" in refused.stderr and "Traceback" not in refused.stderr
    assert [p.name for p in target.iterdir()] == ["agents.py"]
    assert (target / "agents.py").read_text() == "KEEP = 1\n"


def test_init_into_the_current_folder_when_it_is_empty(tmp_path: Path) -> None:
    made = run_cli("init", db=tmp_path / "other" / "runs.db", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "flow.yaml").is_file()


def test_an_unknown_template_lists_those_that_exist_and_writes_nothing(tmp_path: Path) -> None:
    refused = run_cli("init", str(tmp_path / "x"), "--template", "chatbot", db=tmp_path / "runs.db")
    assert refused.returncode == 2
    assert "unknown template 'chatbot'" in refused.stderr
    assert all(t in refused.stderr for t in TEMPLATES)
    assert not (tmp_path / "x").exists()


def test_init_onto_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "flow").write_text("mine\n")
    refused = run_cli("init", str(tmp_path / "flow"), db=tmp_path / "runs.db")
    assert refused.returncode == 2
    assert (tmp_path / "flow").read_text() == "mine\n"
