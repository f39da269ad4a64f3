"""Workflows on Bedrock through the engine: usage, sessions, and the retry and fallback policy.

Every call goes through boto3 to the emulator over HTTP; botocore's own retries are off
(``max_attempts: 1``), so each attempt the policy makes is one request the emulator counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bedrock_support import HAIKU, scripted, write_workflow

import podium
from podium.core.errors import WorkflowError
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.providers.bedrock.agents import session_id_for
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture

MOCK = {
    "ask": {"reply": "Tides are predictable.", "usage": {"input_tokens": 120, "output_tokens": 30}},
    "write": {"reply": "A brief on tides.", "usage": {"input_tokens": 200, "output_tokens": 80}},
}


def flow(
    emu: BedrockEmulator, agent: dict[str, str] | None = None, *, extra: str = "", **settings: Any
) -> str:
    providers = json.dumps({**emu.settings(), "max_attempts": 1, **settings})
    binding = json.dumps(agent) if agent else "{}"
    return f"""
        name: bedrock-flow
        defaults: {{provider: bedrock, retry: {{attempts: 3, backoff: 0, jitter: false}}}}
        providers:
          bedrock: {providers}
        agents:
          helper:
            instructions: You answer questions about the sea, briefly and plainly.
            bedrock: {binding}
          writer:
            instructions: You write briefs.
            model: {HAIKU}
        steps:
          ask: {{agent: helper, prompt: "What about {{{{ inputs.topic }}}}?"}}
          write: {{agent: writer, needs: [ask], prompt: "Write from {{{{ steps.ask.output }}}}"}}
        inputs: {{topic: {{type: string, default: tides}}}}
        outputs: {{brief: "{{{{ steps.write.output }}}}"}}
        {extra}
    """


async def run(path: Path, plugins: PluginsFixture, store: Any = None, **kw: Any) -> podium.Run:
    wf = podium.load(path, plugins=plugins.pm)
    return await podium.arun(
        wf, plugins=plugins.pm, store=store or SQLiteStore(path.parent / "runs.db"), **kw
    )


def calls(emu: BedrockEmulator, operation: str, step: str) -> list[Any]:
    return [e for e in emu.exchanges if e.operation == operation and e.detail.get("step") == step]


async def test_a_managed_agent_step_and_a_model_step(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    agent_id, alias_id = emulator.add_agent("helper", model="amazon.nova-pro-v1:0")
    path = write_workflow(tmp_path, flow(emulator, {"agent_id": agent_id, "alias_id": alias_id}))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"brief": "A brief on tides."}
    assert (result.steps["ask"].usage.input_tokens, result.steps["ask"].usage.output_tokens) == (120, 30)
    assert (result.steps["write"].usage.input_tokens, result.steps["write"].usage.output_tokens) == (200, 80)
    # what each step ran on, in show and --json: the managed agent, and the model
    assert result.steps["ask"].bound_to is not None and result.steps["ask"].bound_to["kind"] == "agent"
    assert result.steps["write"].bound_to is not None and result.steps["write"].bound_to["kind"] == "model"
    [ask] = calls(emulator, "InvokeAgent", "ask")
    [write] = calls(emulator, "Converse", "write")
    assert ask.detail["agent_id"] == agent_id and ask.detail["input"] == "What about tides?"
    assert write.detail["input"] == "Write from Tides are predictable."
    finished = {e.step: e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED}
    assert finished["ask"]["model"] == "amazon.nova-pro-v1:0" and finished["write"]["model"] == HAIKU
    assert len(finished["ask"]["native"]["trace"]) == 6  # kept for the trace exporter
    assert finished["ask"]["session_id"] == session_id_for(f"{result.run_id}-ask")


async def test_scripted_throttling_comes_back_through_boto3_and_is_retried_in_one_session(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(
        emulator, {**MOCK, "ask": [{"error": "throttled", "retry_after": 0.01}, {"error": "throttled"}, "ok"]}
    )
    agent_id, alias_id = emulator.add_agent("helper")
    path = write_workflow(tmp_path, flow(emulator, {"agent_id": agent_id, "alias_id": alias_id}))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    attempts = calls(emulator, "InvokeAgent", "ask")
    assert [e.status for e in attempts] == [429, 429, 200]
    assert len({e.detail["session_id"] for e in attempts}) == 1
    failed = [e.data for e in podium_events.events if e.type is EventType.CALL_FAILED]
    assert [f["kind"] for f in failed] == ["throttled", "throttled"]
    assert failed[0]["retry_after"] == 0.01 and failed[0]["retryable"] is True


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        (lambda f: f.server_error(503, operation="Converse"), "transient"),
        (lambda f: f.server_error(500, operation="Converse"), "transient"),
        (lambda f: f.delay(3.0, operation="Converse"), "timeout"),
        (lambda f: f.cut(operation="Converse"), "transient"),
        (lambda f: f.malformed(operation="Converse"), "transient"),
        (lambda f: f.throttle(operation="Converse"), "throttled"),
    ],
    ids=["503", "500", "read-timeout", "cut", "malformed", "throttle"],
)
async def test_retryable_faults_are_retried_and_the_run_succeeds(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    inject: Any,
    kind: str,
) -> None:
    scripted(emulator, MOCK)
    inject(emulator.faults)
    # a read timeout with slack for a busy machine (the injected delay is longer still)
    path = write_workflow(tmp_path, flow(emulator, read_timeout=1.5, extra="mock: {}"))
    wf = podium.load(path, plugins=podium_plugins.pm)
    agents = {**wf.agents, "helper": wf.agents["writer"]}  # both steps on Converse here
    result = await podium.arun(
        wf.model_copy(update={"agents": agents}),
        plugins=podium_plugins.pm,
        store=SQLiteStore(tmp_path / "r.db"),
    )

    assert result.status == "succeeded"
    failed = [e for e in podium_events.events if e.type is EventType.CALL_FAILED]
    assert [(e.step, e.data["kind"]) for e in failed] == [("ask", kind)]
    assert emulator.count("Converse") == 3  # the failed attempt, its retry, and the write step


async def test_an_invalid_request_fails_the_step_without_a_retry(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, flow(emulator, {"agent_id": "NOSUCHAGNT", "alias_id": "NOSUCHALIA"}))

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    step = result.steps["ask"]
    assert step.status == "failed" and step.error is not None and step.error.kind == "invalid_request"
    assert "ResourceNotFoundException" in step.error.message
    assert emulator.count("InvokeAgent") == 1 and emulator.count("Converse") == 0


def test_an_alias_without_its_agent_is_refused_before_the_run_with_file_and_line(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    # `podium validate` must refuse what a run would refuse: nothing to find out from the cloud here
    path = write_workflow(tmp_path, flow(emulator, {"alias_id": "ABCDEFGHIJ"}))
    with pytest.raises(WorkflowError) as refused:
        podium.load(path)
    message = str(refused.value)
    assert f"{path}:8:5: agents.helper.bedrock: alias_id ABCDEFGHIJ needs the agent" in message
    assert "add agent_id" in message
    assert emulator.count() == 0


def test_a_region_that_is_no_aws_region_is_refused_before_the_run(tmp_path: Path) -> None:
    # a run would only retry "cannot reach Bedrock" against a host that does not exist
    path = tmp_path / "flow.yaml"
    path.write_text(
        "name: f\nproviders:\n  bedrock: {region: mars-north-7}\n"
        f"agents:\n  a: {{model: '{HAIKU}', provider: bedrock}}\nsteps:\n  s: {{agent: a, prompt: hi}}\n"
    )
    with pytest.raises(WorkflowError) as refused:
        podium.load(path)
    assert f"{path}:3:13: providers.bedrock.region: " in str(refused.value)
    assert "'mars-north-7' is not an AWS region name: use one like us-east-1" in str(refused.value)


async def test_exhausted_throttling_falls_back_to_local(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    emulator.faults.throttle(times=10, operation="InvokeAgent")
    agent_id, alias_id = emulator.add_agent("helper")
    text = flow(emulator, {"agent_id": agent_id, "alias_id": alias_id}, extra=f"mock: {json.dumps(MOCK)}")
    text = text.replace("retry: {attempts: 3", "fallback: [local], retry: {attempts: 2")
    path = write_workflow(tmp_path, text)

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    assert result.steps["ask"].provider == "local" and result.steps["write"].provider == "bedrock"
    assert result.steps["ask"].output == "Tides are predictable."
    assert emulator.count("InvokeAgent") == 2  # two attempts on bedrock, then local
    failed = [
        (e.data["provider"], e.data["kind"]) for e in podium_events.events if e.type is EventType.CALL_FAILED
    ]
    assert failed == [("bedrock", "throttled"), ("bedrock", "throttled")]


async def test_a_resumed_step_continues_the_same_agent_session(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    agent_id, alias_id = emulator.add_agent("helper")
    text = flow(emulator, {"agent_id": agent_id, "alias_id": alias_id}).replace("attempts: 3", "attempts: 1")
    path = write_workflow(tmp_path, text)
    store = SQLiteStore(tmp_path / "runs.db")
    emulator.faults.server_error(500, operation="InvokeAgent")

    first = await run(path, podium_plugins, store=store)
    assert first.status == "failed"
    resumed = await podium.aresume(first.run_id, store=store, plugins=podium_plugins.pm)

    assert resumed.status == "succeeded"
    sessions = [e.detail["session_id"] for e in calls(emulator, "InvokeAgent", "ask")]
    assert sessions == [session_id_for(f"{first.run_id}-ask")] * 2
    assert [t["input"] for t in emulator.sessions[sessions[0]].turns] == ["What about tides?"]
