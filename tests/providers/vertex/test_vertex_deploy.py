"""`podium deploy --provider vertex`: agents become ADK Agent Engines; later runs find them by the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from vertex_support import FLASH, scripted, write_workflow

from podium.providers._kit.lock import LOCK_FILE
from podium.providers.vertex.emulator import VertexEmulator

ROOT = Path(__file__).resolve().parents[3]


def podium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PODIUM_DB": str(tmp_path / "runs.db"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "podium", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )


def flow(emulator: VertexEmulator, instructions: str = "You answer in one short sentence.") -> str:
    settings = {**emulator.settings(), "models": {"fast": FLASH}}
    return f"""
        name: deployed
        defaults: {{provider: vertex, retry: {{attempts: 1}}}}
        providers: {{vertex: {json.dumps(settings)}}}
        agents:
          helper: {{model: fast, instructions: "{instructions}"}}
          counter: {{function: "os.path:basename"}}
        steps:
          ask: {{agent: helper, prompt: hello}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
    """


def test_deploy_then_run_on_the_deployed_engine_then_redeploy(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    scripted(emulator, {"ask": ["deployed answer", "second answer"]})
    path = write_workflow(tmp_path, flow(emulator))

    first = podium("deploy", str(path), "--provider", "vertex", "--json", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    [row] = json.loads(first.stdout)["agents"]  # a python function is not deployed
    assert row["agent"] == "helper" and row["action"] == "created" and row["model"] == FLASH
    engine = emulator.state.engines[row["engine"]]
    assert engine.model == FLASH and engine.instructions == "You answer in one short sentence."
    assert engine.display_name == "deployed-helper" and engine.labels["podium_agent"] == "helper"
    [entry] = json.loads((tmp_path / LOCK_FILE).read_text())["workflows"]["deployed"]["vertex"]
    assert entry["project"] == emulator.project and entry["agents"]["helper"]["engine"] == row["engine"]

    ran = podium("run", str(path), "--json", tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    done = json.loads(ran.stdout)
    assert done["outputs"] == {"answer": "deployed answer"}
    assert done["cost"]["unpriced_calls"] == 0 and float(done["cost"]["total_usd"]) > 0  # priced as its model
    [call] = [e for e in emulator.requests if e.operation == "StreamQuery"]
    assert call.detail["engine"] == row["engine"] and emulator.count("GenerateContent") == 0

    again = podium("deploy", str(path), "--provider", "vertex", "--json", tmp_path=tmp_path)
    assert [r["action"] for r in json.loads(again.stdout)["agents"]] == ["unchanged"]

    path.write_text(path.read_text().replace("one short sentence", "two short sentences"))
    changed = podium("deploy", str(path), "--provider", "vertex", "--json", tmp_path=tmp_path)
    [updated] = json.loads(changed.stdout)["agents"]
    assert updated["action"] == "updated" and updated["engine"] == row["engine"]
    assert emulator.state.engines[row["engine"]].instructions == "You answer in two short sentences."
    assert emulator.count("CreateReasoningEngine") == 1 and emulator.count("UpdateReasoningEngine") == 1


def test_an_engine_gone_from_the_cloud_is_created_again(emulator: VertexEmulator, tmp_path: Path) -> None:
    path = write_workflow(tmp_path, flow(emulator))
    first = podium("deploy", str(path), "--provider", "vertex", "--json", tmp_path=tmp_path)
    [row] = json.loads(first.stdout)["agents"]
    del emulator.state.engines[row["engine"]]

    again = podium("deploy", str(path), "--provider", "vertex", "--json", tmp_path=tmp_path)
    [made] = json.loads(again.stdout)["agents"]
    assert made["action"] == "created" and made["engine"] != row["engine"]


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ("helper: {instructions: Answer.}", "agents.helper has no model"),
        ("helper: {function: 'os.path:basename'}", "has no agents to deploy to Vertex"),
        ("helper: {model: fast, instructions: 'For {{ inputs.who }}'}", "cannot be rendered for a deploy"),
    ],
    ids=["no-model", "nothing-to-deploy", "instructions-need-a-run"],
)
def test_what_cannot_be_deployed_is_said_before_anything_is_made(
    emulator: VertexEmulator, tmp_path: Path, agents: str, message: str
) -> None:
    settings = {**emulator.settings(), "models": {"fast": FLASH}}
    path = write_workflow(
        tmp_path,
        f"""
        name: bad
        providers: {{vertex: {json.dumps(settings)}}}
        inputs: {{who: {{type: string}}}}
        agents:
          {agents}
        steps: {{ask: {{agent: helper, prompt: hi, }}}}
        """,
    )
    done = podium("deploy", str(path), "--provider", "vertex", tmp_path=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert emulator.count("CreateReasoningEngine") == 0
