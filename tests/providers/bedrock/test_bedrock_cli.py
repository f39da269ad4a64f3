"""The command line with Bedrock: run --emulate, deploy, emulate, and the errors a user sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from bedrock_support import scripted, write_workflow

from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[3]


def podium(
    *args: str, tmp_path: Path, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=tmp_path / "runs.db", cwd=cwd, timeout=timeout)


def test_the_research_example_runs_on_bedrock_through_the_emulator(tmp_path: Path) -> None:
    done = podium(
        "run",
        "examples/research/research.yaml",
        "--provider",
        "bedrock",
        "--emulate",
        "--json",
        tmp_path=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    providers = {sid: step["provider"] for sid, step in run["steps"].items()}
    assert providers == {
        "science": "bedrock", "economics": "bedrock", "policy": "bedrock", "draft": "bedrock",
        "review": "bedrock", "polish": "bedrock", "adapt": "bedrock",
        "words": "local",  # a python function always runs locally
    }  # fmt: skip
    usage = {
        sid: (s["usage"]["input_tokens"], s["usage"]["output_tokens"]) for sid, s in run["steps"].items()
    }
    assert usage["science"] == (52, 38) and usage["draft"] == (240, 180) and usage["polish"] == (230, 170)
    assert run["steps"]["review"]["calls"] == 2  # the schema repair went through Converse too
    assert run["outputs"]["review"]["score"] == 6
    assert run["outputs"]["channels"][0].startswith("This month")


def test_deploy_from_the_command_line_then_run_against_the_same_endpoint(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    mock = {"ask": {"reply": "deployed answer", "usage": {"input_tokens": 9, "output_tokens": 4}}}
    scripted(emulator, mock)
    settings = {**emulator.settings(), "max_attempts": 1, "models": {"fast": "amazon.nova-micro-v1:0"}}
    path = write_workflow(
        tmp_path,
        f"""
        name: deployed
        defaults: {{provider: bedrock}}
        providers: {{bedrock: {json.dumps(settings)}}}
        agents:
          helper:
            model: fast
            instructions: You are a helpful assistant who answers in one short sentence.
        steps:
          ask: {{agent: helper, prompt: hello}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
        mock: {json.dumps(mock)}
        """,
    )

    deployed = podium("deploy", str(path), "--provider", "bedrock", "--json", tmp_path=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    [row] = json.loads(deployed.stdout)["agents"]
    assert (
        row["agent"] == "helper"
        and row["action"] == "created"
        and row["foundation_model"] == "amazon.nova-micro-v1:0"
    )
    assert (tmp_path / "podium-lock.json").exists()

    ran = podium("run", str(path), "--json", tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"answer": "deployed answer"}
    [call] = [e for e in emulator.exchanges if e.operation == "InvokeAgent"]
    assert call.detail["agent_id"] == row["agent_id"] and emulator.count("Converse") == 0


def test_emulate_bedrock_serves_other_tools(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "emulate", "bedrock", "--port", "0", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        assert info["provider"] == "bedrock" and info["endpoint_url"].startswith("http://127.0.0.1:")
        assert info["environment"]["AWS_ACCESS_KEY_ID"] == "testing"
        runtime = boto3.client(
            "bedrock-runtime", endpoint_url=info["endpoint_url"], region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        reply = runtime.converse(
            modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "ping"}]}]
        )
        assert reply["output"]["message"]["content"] == [{"text": "ping"}]  # the echo brain
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_a_bedrock_run_without_a_region_says_what_to_set(tmp_path: Path) -> None:
    path = write_workflow(
        tmp_path,
        """
        name: no-region
        agents: {helper: {provider: bedrock, model: amazon.nova-micro-v1:0}}
        defaults: {retry: {attempts: 1}}
        steps: {ask: {agent: helper, prompt: hello}}
        """,
    )
    done = podium("run", str(path), tmp_path=tmp_path)
    assert done.returncode == 1
    assert (
        "no AWS region" in done.stdout + done.stderr
        and "providers.bedrock.region" in done.stdout + done.stderr
    )
    assert "Traceback" not in done.stderr


def test_deploy_to_a_provider_that_cannot(tmp_path: Path) -> None:
    path = write_workflow(tmp_path, "name: x\nagents: {a: {model: m}}\nsteps: {s: {agent: a}}\n")
    done = podium("deploy", str(path), "--provider", "local", tmp_path=tmp_path)
    assert done.returncode == 2 and "provider 'local' has no managed agents to deploy" in done.stderr


def test_help_lists_the_commands_without_loading_boto3(tmp_path: Path) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['podium', '--help']\n"
        "try:\n    runpy.run_module('podium', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('boto3', 'botocore', 'moto'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "deploy" in done.stdout and "emulate" in done.stdout


def test_deploy_emulate_shows_what_would_be_made_and_leaves_the_lock_file_alone(tmp_path: Path) -> None:
    import shutil

    for name in ("research.yaml", "helpers.py"):
        shutil.copy(ROOT / "examples" / "research" / name, tmp_path / name)
    lock = tmp_path / "podium-lock.json"
    lock.write_text('{"version": 1, "workflows": {}}\n')
    done = subprocess.run(
        [sys.executable, "-m", "podium", "deploy", "research.yaml", "--provider", "bedrock", "--emulate",
         "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PODIUM_DB": str(tmp_path / "db")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    agents = json.loads(done.stdout)["agents"]
    assert {a["agent"] for a in agents} == {"researcher", "writer", "reviewer", "editor"}
    assert {a["action"] for a in agents} == {"created"}
    assert lock.read_text() == '{"version": 1, "workflows": {}}\n'  # untouched


def test_run_set_points_a_provider_elsewhere_for_that_run(tmp_path: Path, emulator: BedrockEmulator) -> None:
    """`podium run --set bedrock.<key>=…` lays settings over the workflow's, checked like the file's."""
    from podium import api
    from podium.providers._kit.brains import ScriptedBrain

    research = api.load(ROOT / "examples" / "research" / "research.yaml")
    emulator.brain = ScriptedBrain(research.mock, provider="bedrock")  # the replies --emulate would give
    sets = [f"--set=bedrock.{k}={v}" for k, v in emulator.settings().items() if v is not None]
    done = podium(
        "run", "examples/research/research.yaml", "--provider", "bedrock", "--json", "-q", *sets,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert emulator.count("Converse") >= 8  # the calls went where --set said
    unnamed = podium("run", "examples/research/research.yaml", "--set", "region=x", tmp_path=tmp_path)
    assert unnamed.returncode == 2 and "--set bedrock.region" in unnamed.stderr
    wrong = podium(
        "run", "examples/research/research.yaml", "--set", "bedrock.max_attempts=many", tmp_path=tmp_path
    )
    assert wrong.returncode == 2 and "max_attempts" in wrong.stderr and "Traceback" not in wrong.stderr
