"""`podium validate --provider P` and `podium run --provider P` with model classes, as a user types them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from podium.testing import run_cli

FLOW = """
name: triage
agents:
  triager: {instructions: Sort the ticket into one word., model: MODEL}
  helper: {instructions: Answer the customer., model: smart}
steps:
  triage: {agent: triager, prompt: "My refund is late"}
  answer: {agent: helper, needs: [triage], prompt: "A {{ steps.triage.output }} ticket"}
mock:
  triage: billing
  answer: Your refund is on its way.
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def flow(tmp_path: Path, model: str = "fast") -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(FLOW).lstrip().replace("MODEL", model), encoding="utf-8")
    return path


def tiny_on_bedrock(tmp_path: Path) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text("classes:\n  tiny:\n    models: {bedrock: us.amazon.nova-micro-v1:0}\n", encoding="utf-8")
    return path


def test_validate_for_a_provider_lists_what_each_agent_runs_on(tmp_path: Path, db: Path) -> None:
    done = run_cli("validate", str(flow(tmp_path)), "--provider", "vertex", db=db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "triager on vertex: model gemini-2.5-flash (class fast (model_classes.yaml:" in done.stdout
    assert "helper on vertex: model gemini-2.5-pro (class smart" in done.stdout
    as_json = run_cli("validate", str(flow(tmp_path)), "--provider", "azure", "--json", db=db, cwd=tmp_path)
    data = json.loads(as_json.stdout)
    assert data["valid"] is True and data["providers"] == ["azure"]
    assert {(b["agent"], b["kind"], b["id"]) for b in data["bindings"]} == {
        ("triager", "model", "gpt-4o-mini"), ("helper", "model", "gpt-4o"),
    }  # fmt: skip


def test_an_unmapped_class_fails_validate_with_the_file_line_class_cloud_and_table(
    tmp_path: Path, db: Path
) -> None:
    path, mine = flow(tmp_path, "tiny"), tiny_on_bedrock(tmp_path)
    ok = run_cli("validate", str(path), "--provider", "bedrock", "--model-classes", str(mine), db=db)
    assert ok.returncode == 0, ok.stderr
    assert "triager on bedrock: model us.amazon.nova-micro-v1:0 (class tiny" in ok.stdout
    done = run_cli("validate", str(path), "--provider", "azure", "--model-classes", str(mine), db=db)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{path}:3:" in done.stderr and "agents.triager.model" in done.stderr
    assert "model class 'tiny' has no model for azure" in done.stderr
    assert (
        f"{mine}:2" in done.stderr
        and "fix: map it for this workflow under providers.azure.models" in done.stderr
    )
    as_json = run_cli(
        "validate", str(path), "--provider", "azure", "--model-classes", str(mine), "--json", db=db
    )
    assert as_json.returncode == 2
    [problem] = json.loads(as_json.stdout)["problems"]
    assert (problem["line"], problem["field"]) == (3, "agents.triager.model")


def test_run_on_a_cloud_with_an_unmapped_class_fails_before_anything_runs(tmp_path: Path, db: Path) -> None:
    path, mine = flow(tmp_path, "tiny"), tiny_on_bedrock(tmp_path)
    env = {"PODIUM_MODEL_CLASSES": str(mine)}
    done = run_cli("run", str(path), "--provider", "vertex", "--emulate", db=db, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "model class 'tiny' has no model for vertex" in done.stderr and f"{path}:3:" in done.stderr
    listed = run_cli("runs", "--json", db=db)
    assert json.loads(listed.stdout or "[]") == []  # no run was created


def test_run_on_each_emulated_cloud_calls_the_classes_models(tmp_path: Path, db: Path) -> None:
    path = flow(tmp_path)
    expected = {
        "bedrock": [
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ],
        "vertex": ["gemini-2.5-flash", "gemini-2.5-pro"],
        "azure": ["gpt-4o-mini", "gpt-4o"],
    }
    for cloud, models in expected.items():
        done = run_cli("run", str(path), "--provider", cloud, "--emulate", "--json", db=db)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "succeeded"
        shown = json.loads(run_cli("show", "latest", "--events", "--json", db=db).stdout)
        called = [e["data"]["model"] for e in shown["events"] if e["type"] == "CallStarted"]
        assert called == models, cloud
