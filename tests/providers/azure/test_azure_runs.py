"""Workflows on Azure through the engine: usage, conversations, retry, fallback, resume, deploy.

Every call goes through azure-ai-projects / openai to the emulator over HTTPS; the SDKs' own
retries are off, so each attempt the policy makes is one request the emulator counts.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from azure_support import scripted, write_workflow
from crash_support import killed_mid_call, resumed

import podium
from podium.core.errors import PodiumError
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.providers._kit.brains import Answer, Turn
from podium.providers.azure.emulator import AzureEmulator
from podium.testing import PluginsFixture

MOCK = {
    "ask": {"reply": "Tides are predictable.", "usage": {"input_tokens": 120, "output_tokens": 30}},
    "write": {"reply": "A brief on tides.", "usage": {"input_tokens": 200, "output_tokens": 80}},
}


def flow(emu: AzureEmulator, agent: dict[str, str] | None = None, *, extra: str = "", **settings: Any) -> str:
    providers = json.dumps({**emu.settings(), **settings})
    binding = json.dumps(agent) if agent else "{}"
    return f"""
        name: azure-flow
        defaults: {{provider: azure, retry: {{attempts: 3, backoff: 0, jitter: false}}}}
        providers:
          azure: {providers}
        agents:
          helper:
            instructions: You answer questions about the sea, briefly and plainly.
            azure: {binding}
          writer:
            instructions: You write briefs.
            model: gpt-4o
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


def calls(emu: AzureEmulator, step: str) -> list[Any]:
    return [e for e in emu.requests if e.operation == "CreateResponse" and e.detail.get("step") == step]


async def test_an_agent_step_and_a_model_step(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    emulator.add_agent("helper", model="gpt-4o-mini")
    path = write_workflow(tmp_path, flow(emulator, {"agent": "helper"}))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"brief": "A brief on tides."}
    assert (result.steps["ask"].usage.input_tokens, result.steps["ask"].usage.output_tokens) == (120, 30)
    assert (result.steps["write"].usage.input_tokens, result.steps["write"].usage.output_tokens) == (200, 80)
    # what each step ran on, in show and --json: the managed agent, and the model
    assert result.steps["ask"].bound_to is not None and result.steps["ask"].bound_to["kind"] == "agent"
    assert result.steps["write"].bound_to is not None and result.steps["write"].bound_to["kind"] == "model"
    [ask] = calls(emulator, "ask")
    [write] = calls(emulator, "write")
    assert ask.detail["agent_name"] == "helper" and ask.detail["conversation"].startswith("conv_")
    assert write.detail["model"] == "gpt-4o" and "conversation" not in write.detail
    finished = {e.step: e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED}
    assert finished["ask"]["model"] == "gpt-4o-mini" and finished["write"]["model"] == "gpt-4o"
    assert finished["ask"]["session_id"] == ask.detail["conversation"]


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        (lambda f: f.server_error(503, operation="CreateResponse"), "transient"),
        (lambda f: f.server_error(500, operation="CreateResponse"), "transient"),
        (lambda f: f.delay(3.0, operation="CreateResponse"), "timeout"),
        (lambda f: f.cut(operation="CreateResponse"), "transient"),
        (lambda f: f.malformed(operation="CreateResponse"), "transient"),
        (lambda f: f.throttle(retry_after=0.01, operation="CreateResponse"), "throttled"),
        (lambda f: f.throttle(operation="CreateConversation"), "throttled"),
    ],
    ids=["503", "500", "read-timeout", "cut", "malformed", "throttle", "throttled-conversation"],
)
async def test_retryable_faults_are_retried_in_the_same_conversation_and_the_run_succeeds(
    emulator: AzureEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    inject: Any,
    kind: str,
) -> None:
    scripted(emulator, MOCK)
    emulator.add_agent("helper")
    inject(emulator.faults)
    # a read timeout only where the fault is a delay past it: elsewhere a tight one can make the
    # retry itself time out on a loaded machine
    read_timeout = 1.0 if kind == "timeout" else 10.0
    path = write_workflow(tmp_path, flow(emulator, {"agent": "helper"}, read_timeout=read_timeout))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    failed = [e for e in podium_events.events if e.type is EventType.CALL_FAILED]
    assert [(e.step, e.data["kind"]) for e in failed] == [("ask", kind)]
    made = [e for e in emulator.requests if e.operation == "CreateConversation" and e.status == 200]
    assert len(made) == 1
    conversations = {e.detail["conversation"] for e in calls(emulator, "ask") if e.status == 200}
    assert len(conversations) == 1


async def test_an_invalid_request_fails_the_step_without_a_retry(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write_workflow(tmp_path, flow(emulator, {"agent": "nobody"}))

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "invalid_request" and "nobody" in error.message
    assert emulator.count("CreateResponse") == 1


async def test_a_bad_binding_is_reported_with_file_and_line_before_the_run(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write_workflow(tmp_path, flow(emulator, {"agent": "helper", "agent_id": "x"}))
    with pytest.raises(PodiumError) as bad:
        podium.load(path, plugins=podium_plugins.pm)
    assert "agent_id" in str(bad.value) and "flow.yaml:" in str(bad.value)
    assert emulator.count() == 0


async def test_exhausted_throttling_falls_back_to_local(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    emulator.faults.throttle(times=10, operation="CreateResponse")
    emulator.add_agent("helper")
    text = flow(emulator, {"agent": "helper"}, extra=f"mock: {json.dumps(MOCK)}")
    text = text.replace("retry: {attempts: 3", "fallback: [local], retry: {attempts: 2")
    path = write_workflow(tmp_path, text)

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    assert result.steps["ask"].provider == "local" and result.steps["write"].provider == "local"
    assert result.steps["ask"].output == "Tides are predictable."
    assert emulator.count("CreateResponse") == 4  # two attempts a step on azure, then local
    failed = [
        (e.data["provider"], e.data["kind"]) for e in podium_events.events if e.type is EventType.CALL_FAILED
    ]
    assert failed == [("azure", "throttled")] * 4


async def test_a_resumed_step_continues_the_same_conversation(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    emulator.add_agent("helper")
    text = flow(emulator, {"agent": "helper"}).replace("attempts: 3", "attempts: 1")
    path = write_workflow(tmp_path, text)
    store = SQLiteStore(tmp_path / "runs.db")
    emulator.faults.server_error(500, operation="CreateResponse")

    first = await run(path, podium_plugins, store=store)
    assert first.status == "failed"
    resumed = await podium.aresume(first.run_id, store=store, plugins=podium_plugins.pm)

    assert resumed.status == "succeeded"
    asked = calls(emulator, "ask")
    assert [e.status for e in asked] == [500, 200]
    assert len({e.detail["conversation"] for e in asked}) == 1 and emulator.count("CreateConversation") == 1


def test_a_run_killed_mid_call_resumes_in_the_same_conversation(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    emulator.add_agent("helper")
    entered, release = threading.Event(), threading.Event()
    seen: list[Turn] = []

    def brain(turn: Turn) -> Answer | str:
        seen.append(turn)
        if len(seen) == 1:  # the first call hangs until the process that made it is killed
            entered.set()
            release.wait(30)
        return MOCK["ask" if turn.step == "ask" else "write"]["reply"]

    emulator.brain = brain
    path = write_workflow(tmp_path, flow(emulator, {"agent": "helper"}))
    killed_mid_call(path, tmp_path, entered, release)
    run_id = seen[0].run_id
    assert run_id

    code, out, err = resumed(run_id, tmp_path)
    assert code == 0, err
    assert json.loads(out)["outputs"] == {"brief": "A brief on tides."}
    asked = calls(emulator, "ask")
    assert len(asked) == 2 and asked[0].detail["conversation"] == asked[1].detail["conversation"]
    assert emulator.count("CreateConversation") == 1
    assert [t.session_id for t in seen if t.step == "ask"] == [asked[0].detail["conversation"]] * 2


async def test_a_workflow_agent_calls_its_python_tool_through_the_foundry_agent(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    (tmp_path / "tools_for_tests.py").write_text((Path(__file__).parent / "tools_for_tests.py").read_text())
    mock = {
        "ask": [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}, {"reply": "Rain in Oslo."}],
        "write": {"reply": "A brief on rain."},
    }
    scripted(emulator, mock)
    emulator.add_agent("helper")
    text = flow(emulator, {"agent": "helper"}).replace(
        "\n            azure: ",
        '\n            tools: {weather: "tools_for_tests:weather"}\n            azure: ',
        1,
    )
    path = write_workflow(tmp_path, text)

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.steps["ask"].output == "Rain in Oslo." and result.outputs == {"brief": "A brief on rain."}
    finished = {e.step: e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED}
    [tool] = finished["ask"]["native"]["tool_calls"]
    assert tool["name"] == "weather" and tool["result"] == {"city": "Oslo", "days": 1, "sky": "rain"}
    assert finished["ask"]["usage"]["requests"] == 2
    asked = calls(emulator, "ask")
    assert len(asked) == 2 and asked[0].detail["conversation"] == asked[1].detail["conversation"]
