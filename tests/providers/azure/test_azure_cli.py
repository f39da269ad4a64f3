"""The command line with Azure: run --emulate (the research example, priced), deploy, emulate, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from azure.ai.projects import AIProjectClient
from azure_support import scripted, write_workflow

from podium.providers.azure.client import StaticToken
from podium.providers.azure.emulator import AzureEmulator
from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[3]


def podium(
    *args: str, tmp_path: Path, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=tmp_path / "runs.db", cwd=cwd, timeout=timeout)


def test_the_research_example_runs_on_azure_through_the_emulator_and_is_priced(tmp_path: Path) -> None:
    done = podium(
        "run",
        "examples/research/research.yaml",
        "--provider",
        "azure",
        "--emulate",
        "--json",
        tmp_path=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    providers = {sid: step["provider"] for sid, step in run["steps"].items()}
    assert set(providers.values()) == {"azure", "local"} and providers["words"] == "local"
    usage = {
        sid: (s["usage"]["input_tokens"], s["usage"]["output_tokens"]) for sid, s in run["steps"].items()
    }
    assert usage["science"] == (52, 38) and usage["draft"] == (240, 180) and usage["polish"] == (230, 170)
    assert run["steps"]["review"]["calls"] == 2  # the schema repair went through Responses too
    assert run["outputs"]["review"]["score"] == 6
    cost = run["cost"]
    assert cost["unpriced_calls"] == 0 and cost["complete"] is True
    # science at gpt-4o-mini's $0.15 in / $0.60 out per million tokens; draft at gpt-4o's $2.50 / $10.00
    assert Decimal(cost["steps"]["science"]["cost_usd"]) == Decimal("0.0000078") + Decimal("0.0000228")
    assert Decimal(cost["steps"]["draft"]["cost_usd"]) == Decimal("0.0006") + Decimal("0.0018")
    assert Decimal(cost["total_usd"]) > 0


def test_deploy_from_the_command_line_is_idempotent_then_runs_the_deployed_version(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    mock = {"ask": {"reply": "deployed answer", "usage": {"input_tokens": 9, "output_tokens": 4}}}
    scripted(emulator, mock)
    settings = {**emulator.settings(), "models": {"fast": "gpt-4o-mini"}}
    text = f"""
        name: deployed
        defaults: {{provider: azure}}
        providers: {{azure: {json.dumps(settings)}}}
        agents:
          helper:
            model: fast
            instructions: You are a helpful assistant who answers in one short sentence.
        steps:
          ask: {{agent: helper, prompt: hello}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
        mock: {json.dumps(mock)}
        """
    path = write_workflow(tmp_path, text)

    deployed = podium("deploy", str(path), "--provider", "azure", "--json", tmp_path=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    [row] = json.loads(deployed.stdout)["agents"]
    assert row == {
        "agent": "helper", "action": "created", "agent_name": "deployed-helper", "agent_version": "1",
        "model": "gpt-4o-mini",
    }  # fmt: skip
    again = podium("deploy", str(path), "--provider", "azure", "--json", tmp_path=tmp_path)
    assert json.loads(again.stdout)["agents"][0]["action"] == "unchanged"
    assert emulator.count("CreateAgentVersion") == 1

    write_workflow(tmp_path, text.replace("one short sentence", "two short sentences"))
    changed = podium("deploy", str(path), "--provider", "azure", "--json", tmp_path=tmp_path)
    [row] = json.loads(changed.stdout)["agents"]
    assert (row["action"], row["agent_version"]) == ("updated", "2")
    lock = json.loads((tmp_path / "podium-lock.json").read_text())
    [entry] = lock["workflows"]["deployed"]["azure"]
    assert (
        entry["endpoint"] == emulator.project_endpoint and entry["agents"]["helper"]["agent_version"] == "2"
    )

    ran = podium("run", str(path), "--json", tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"answer": "deployed answer"}
    [call] = [e for e in emulator.requests if e.operation == "CreateResponse"]
    assert call.detail["agent_name"] == "deployed-helper" and call.detail["model"] == "gpt-4o-mini"
    version = emulator.state.version("deployed-helper", "2")
    assert version is not None and "two short sentences" in version.definition["instructions"]


def test_emulate_azure_serves_the_sdks_of_other_tools(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "emulate", "azure", "--port", "0", "--project", "p1", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        assert info["provider"] == "azure" and info["endpoint_url"].startswith("https://127.0.0.1:")
        endpoint = info["environment"]["AZURE_AI_PROJECT_ENDPOINT"]
        assert endpoint.endswith("/api/projects/p1") and info["settings"]["endpoint"] == endpoint
        ca_file = info["settings"]["ca_file"]
        project = AIProjectClient(endpoint, StaticToken(info["settings"]["token"]), connection_verify=ca_file)
        from azure.ai.projects.models import PromptAgentDefinition

        made = project.agents.create_version(
            agent_name="other-tool", definition=PromptAgentDefinition(model="gpt-4o")
        )
        assert made.version == "1"
        import ssl

        from openai import DefaultHttpxClient

        client = project.get_openai_client(
            http_client=DefaultHttpxClient(verify=ssl.create_default_context(cafile=ca_file))
        )
        reply = client.responses.create(
            input="ping", extra_body={"agent_reference": {"name": "other-tool", "type": "agent_reference"}}
        )
        assert reply.output_text == "ping"  # the echo brain
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_an_azure_run_without_an_endpoint_says_what_to_set(tmp_path: Path) -> None:
    path = write_workflow(
        tmp_path,
        """
        name: no-endpoint
        agents: {helper: {provider: azure, model: gpt-4o}}
        defaults: {retry: {attempts: 1}}
        steps: {ask: {agent: helper, prompt: hello}}
        """,
    )
    done = podium("run", str(path), tmp_path=tmp_path)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "no Foundry project endpoint" in said and "AZURE_AI_PROJECT_ENDPOINT" in said
    assert "Traceback" not in done.stderr
