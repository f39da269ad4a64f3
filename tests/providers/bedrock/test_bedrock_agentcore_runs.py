"""Workflows with an agent on an AgentCore runtime: a crash and resume, the research example under
``--emulate``, deploy's READY check and lock file, and the bad input a user can write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bedrock_support import HAIKU, write_workflow
from crash_support import HeldFirstCall, killed_mid_call, resumed

import podium
from podium import api
from podium.core.errors import BadInput
from podium.core.store import SQLiteStore
from podium.providers._kit.lock import LOCK_FILE
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture, run_cli

ROOT = Path(__file__).resolve().parents[3]
ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/researcher-AbCdEfGhIj"


def flow(emu: BedrockEmulator, binding: dict[str, object], *, extra: str = "") -> str:
    settings = json.dumps({**emu.settings(), "max_attempts": 1})
    return f"""
        name: agentcore-flow
        defaults: {{provider: bedrock, retry: {{attempts: 1}}}}
        providers: {{bedrock: {settings}}}
        inputs: {{topic: {{type: string, default: tides}}}}
        agents:
          helper:
            model: {HAIKU}
            bedrock: {json.dumps(binding)}
        steps:
          ask: {{agent: helper, prompt: "What about {{{{ inputs.topic }}}}?"}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
        {extra}
    """


def test_a_run_killed_mid_call_resumes_in_the_same_runtime_session(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    emulator.brain = brain = HeldFirstCall()  # the first call hangs until its process is dead
    seen = brain.seen
    path = write_workflow(tmp_path, flow(emulator, {"runtime_arn": emulator.add_runtime("helper")}))
    killed_mid_call(path, tmp_path, brain.entered, brain.release)
    run_id = seen[0].run_id
    assert run_id

    code, out, err = resumed(run_id, tmp_path)

    assert code == 0, err
    assert json.loads(out)["outputs"] == {"answer": "answer 2"}
    calls = [e for e in emulator.requests if e.operation == "InvokeAgentRuntime"]
    assert len(calls) == 2 and calls[0].detail["session_id"] == calls[1].detail["session_id"]
    session = emulator.runtime_sessions[calls[0].detail["session_id"]]
    assert [t["input"] for t in session.turns] == ["What about tides?"] * 2
    assert session.users == [run_id, run_id]  # runtimeUserId: the run's, before and after the crash


def test_the_research_example_with_a_researcher_on_agentcore_under_emulate(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "research", tmp_path / "research")
    path = tmp_path / "research" / "research.yaml"
    text = path.read_text(encoding="utf-8")
    bound = text.replace(
        "Answer in three short bullet points.\n    model: fast\n",
        f"Answer in three short bullet points.\n    model: fast\n    bedrock: {{runtime_arn: {ARN}}}\n",
    )
    assert bound != text
    path.write_text(bound, encoding="utf-8")

    done = run_cli("run", str(path), "--provider", "bedrock", "--emulate", "--json", db=tmp_path / "runs.db")

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    kinds = {sid: (s.get("bound_to") or {}).get("kind") for sid, s in run["steps"].items()}
    assert kinds["science"] == kinds["economics"] == kinds["policy"] == "agentcore"
    assert kinds["draft"] == "model"
    usage = {
        sid: (s["usage"]["input_tokens"], s["usage"]["output_tokens"]) for sid, s in run["steps"].items()
    }
    assert usage["science"] == (52, 38) and usage["draft"] == (240, 180)  # the mock's, through the runtime
    assert run["outputs"]["brief"].startswith("Tidal energy")


def test_bad_bindings_are_reported_at_load_with_file_field_and_fix(tmp_path: Path) -> None:
    path = write_workflow(
        tmp_path,
        f"""
        name: bad
        defaults: {{provider: bedrock}}
        agents:
          helper:
            bedrock: {{runtime_arn: "arn:aws:bedrock:us-east-1:123456789012:agent/ABCDEFGHIJ"}}
          other:
            bedrock: {{runtime_arn: "{ARN}", payload: '{{"prompt": "{{{{ prompt }}}}"}}'}}
        steps:
          a: {{agent: helper, prompt: hi}}
          b: {{agent: other, prompt: hi}}
        """,
    )

    done = run_cli("validate", str(path), db=tmp_path / "runs.db")

    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stderr
    assert "flow.yaml:5:" in said and "agents.helper.bedrock.runtime_arn" in said
    assert (
        "classic Bedrock agent's ARN" in said
        and "arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME-ID" in said
    )
    assert "agents.other.bedrock.payload" in said and "does not render to JSON" in said and "tojson" in said
    assert "Traceback" not in said


async def test_a_payload_that_renders_to_no_json_at_call_fails_the_step_naming_the_field(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    arn = emulator.add_runtime("helper")
    binding = {"runtime_arn": arn, "payload": '{"topic": "{{ inputs.topic }}"}'}
    path = write_workflow(tmp_path, flow(emulator, binding))
    wf = podium.load(path, plugins=podium_plugins.pm)  # loads: the template needs the run's input

    run = await podium.arun(
        wf,
        inputs={"topic": 'the "Severn" barrage'},
        plugins=podium_plugins.pm,
        store=SQLiteStore(tmp_path / "r.db"),
    )

    assert run.status == "failed"
    failure = run.steps["ask"].error
    error = f"{failure.message} {failure.fix}" if failure else ""
    assert "agents.helper.bedrock.payload does not render to JSON" in error and "tojson" in error
    assert emulator.count("InvokeAgentRuntime") == 0


def test_deploy_checks_each_runtime_is_ready_and_records_it(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    failed = emulator.add_runtime("broken", status="UPDATE_FAILED")
    emulator.agentcore.adopt = False  # a runtime never created is not found
    settings = json.dumps({**emulator.settings(), "max_attempts": 1})
    path = write_workflow(
        tmp_path,
        f"""
        name: agentcore-flow
        defaults: {{provider: bedrock}}
        providers: {{bedrock: {settings}}}
        agents:
          helper: {{bedrock: {{runtime_arn: "{failed}"}}}}
          other: {{bedrock: {{runtime_arn: "{ARN}"}}}}
          writer: {{model: {HAIKU}, instructions: "You write briefs from notes, plainly and briefly."}}
        steps:
          a: {{agent: helper, prompt: hi}}
          b: {{agent: other, prompt: hi}}
        """,
    )
    wf = podium.load(path, plugins=podium_plugins.pm)

    with pytest.raises(BadInput) as caught:
        api.deploy(wf, provider="bedrock", plugins=podium_plugins.pm)
    said = str(caught.value)  # every problem at once, each naming its agent and field
    assert (
        "agents.helper.bedrock.runtime_arn: the runtime broken-" in said
        and "UPDATE_FAILED, not READY" in said
    )
    assert "agents.other.bedrock.runtime_arn: no AgentCore runtime researcher-AbCdEfGhIj" in said
    assert "get-agent-runtime" in said and not (tmp_path / LOCK_FILE).exists()
    assert emulator.count("CreateAgent") == 0

    emulator.agentcore.set_status(failed, "READY")
    emulator.agentcore.adopt = True
    rows = api.deploy(wf, provider="bedrock", plugins=podium_plugins.pm)

    assert {r.agent: (r.action, r.ids.get("runtime_arn")) for r in rows} == {
        "helper": ("unchanged", failed), "other": ("unchanged", ARN), "writer": ("created", None),
    }  # fmt: skip
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    (entry,) = lock["workflows"]["agentcore-flow"]["bedrock"]
    assert entry["agents"]["helper"] == {
        "runtime_arn": failed, "runtime_id": failed.rsplit("/", 1)[1], "runtime_name": "broken",
        "runtime_version": "1", "qualifier": "DEFAULT", "status": "READY",
    }  # fmt: skip
    assert entry["agents"]["writer"]["agent_id"] and entry["account_id"] == "123456789012"
