"""podium's A2A emulator: scripted agents from `mock:`, under `--emulate` and standalone, with faults."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

import podium
from podium import api
from podium.core.calls import ProviderEnv
from podium.core.events import RunStatus
from podium.plugins.manager import load_plugins
from podium.providers.a2a.emulator import A2AEmulator
from podium.testing import run_cli

FLOW = """
name: a2a-emu
defaults: {provider: a2a, retry: {attempts: 2, backoff: 0.01}}
providers: {a2a: {poll_interval: 0.05}}
agents:
  researcher: {a2a: {url: "https://research.example.com"}}
  scorer:
    a2a: {url: "https://score.example.com", auth: {type: bearer, token_env: PODIUM_TEST_ABSENT_TOKEN}}
steps:
  facts: {agent: researcher, prompt: "facts about tides"}
  score:
    agent: scorer
    needs: [facts]
    prompt: "score {{ steps.facts.output }}"
    output: {schema: {type: object, required: [score], properties: {score: {type: integer}}}}
outputs: {facts: "{{ steps.facts.output }}", score: "{{ steps.score.output.score }}"}
mock:
  facts: {reply: "Tides rise twice a day.", usage: {input_tokens: 12, output_tokens: 7}}
  score: {reply: {score: 8}, usage: {input_tokens: 20, output_tokens: 5}}
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    return path


def test_emulate_runs_a2a_agents_from_mock_with_usage_and_no_credentials(flow: Path, tmp_path: Path) -> None:
    done = run_cli("run", str(flow), "--emulate", "--json", "-q", db=tmp_path / "runs.db")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["outputs"] == {"facts": "Tides rise twice a day.", "score": 8}
    assert result["steps"]["score"]["output"] == {"score": 8}  # a data part, its integer kept
    assert result["usage"]["input_tokens"] == 32 and result["usage"]["output_tokens"] == 12


def _run_with(flow: Path, tmp_path: Path, inject: str) -> podium.Run:
    wf = podium.load(flow)
    env = ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock)
    with A2AEmulator(env.mock) as emulator:
        getattr(emulator.faults, inject)()
        settings = {**wf.providers.get("a2a", {}), **emulator.settings()}
        bound = wf.model_copy(update={"providers": {**wf.providers, "a2a": settings}})
        return podium.run(bound, store=tmp_path / "runs.db", plugins=load_plugins())


def test_a_failed_task_fails_the_step_with_the_agents_words(flow: Path, tmp_path: Path) -> None:
    result = _run_with(flow, tmp_path, "failed")
    assert result.status is RunStatus.FAILED
    error = result.steps["facts"].error
    assert error is not None and error.kind == "agent_error" and "the agent failed" in error.message


def test_an_input_required_task_waits_for_a_person(flow: Path, tmp_path: Path) -> None:
    result = _run_with(flow, tmp_path, "input_required")
    assert result.status is RunStatus.WAITING
    assert "Which account?" in json.dumps(api.waiting(result.run_id, store=tmp_path / "runs.db"))


def test_a_task_that_stays_working_is_bounded_by_the_steps_timeout(flow: Path, tmp_path: Path) -> None:
    flow.write_text(FLOW.replace('prompt: "facts about tides"}', 'prompt: "facts about tides", timeout: 1}')
                    .replace("attempts: 2", "attempts: 1"))  # fmt: skip
    result = _run_with(flow, tmp_path, "working")
    assert result.status is RunStatus.FAILED
    error = result.steps["facts"].error
    assert error is not None and error.kind == "timeout"


def test_throttling_is_retried(flow: Path, tmp_path: Path) -> None:
    result = _run_with(flow, tmp_path, "throttle")
    assert result.status is RunStatus.SUCCEEDED and result.steps["facts"].attempts == 2


def test_podium_emulate_a2a_serves_the_a2a_sdk_client(flow: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "emulate", "a2a", "--workflow", str(flow), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["settings"] == {"endpoint_url": info["endpoint_url"]}

        async def ask() -> str:
            from a2a.client import ClientConfig, create_client
            from a2a.types import Message, Part, Role, SendMessageRequest

            client = await create_client(
                # a client that is not podium sends no run or step: the agent's name is the mock key
                f"{info['endpoint_url']}/agents/facts",
                ClientConfig(streaming=False),
            )
            message = Message(role=Role.ROLE_USER, message_id="m1", parts=[Part(text="hello")])
            answers = [a async for a in client.send_message(SendMessageRequest(message=message))]
            await client.close()
            task = answers[-1].task
            return task.artifacts[0].parts[0].text

        assert asyncio.run(ask()) == "Tides rise twice a day."
    finally:
        proc.terminate()
        proc.wait(10)
