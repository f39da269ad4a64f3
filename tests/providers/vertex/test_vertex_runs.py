"""Workflows on Vertex through the engine: usage, sessions across a resume, and the retry and fallback policy.

Every call goes through google-genai or vertexai to the emulator over HTTP; the SDKs' own retries
are off, so each attempt the policy makes is one request the emulator counts.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from vertex_support import FLASH, scripted, write_workflow

import podium
from podium.core.errors import BadInput
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.providers.vertex.emulator import VertexEmulator
from podium.testing import PluginsFixture

MOCK = {
    "ask": {"reply": "Tides are predictable.", "usage": {"input_tokens": 120, "output_tokens": 30}},
    "write": {"reply": "A brief on tides.", "usage": {"input_tokens": 200, "output_tokens": 80}},
}


def flow(
    emu: VertexEmulator, binding: dict[str, Any] | None = None, *, extra: str = "", **settings: Any
) -> str:
    providers = json.dumps({**emu.settings(), **settings})
    return f"""
        name: vertex-flow
        defaults: {{provider: vertex, retry: {{attempts: 3, backoff: 0, jitter: false}}}}
        providers:
          vertex: {providers}
        agents:
          helper:
            instructions: You answer questions about the sea, briefly and plainly.
            vertex: {json.dumps(binding or {})}
          writer:
            instructions: You write briefs.
            model: {FLASH}
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


def calls(emu: VertexEmulator, operation: str, step: str) -> list[Any]:
    deadline = time.monotonic() + 3  # a request still sleeping through a delay fault is logged when it ends
    while any(e.status == 0 for e in emu.requests) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [e for e in emu.requests if e.operation == operation and e.detail.get("step") == step]


async def test_an_engine_step_and_a_gemini_step(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    engine = emulator.add_engine("helper")
    path = write_workflow(tmp_path, flow(emulator, {"engine": engine}))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"brief": "A brief on tides."}
    assert (result.steps["ask"].usage.input_tokens, result.steps["ask"].usage.output_tokens) == (120, 30)
    assert (result.steps["write"].usage.input_tokens, result.steps["write"].usage.output_tokens) == (200, 80)
    # what each step ran on, in show and --json: the managed agent, and the model
    assert result.steps["ask"].bound_to is not None and result.steps["ask"].bound_to["kind"] == "engine"
    assert result.steps["write"].bound_to is not None and result.steps["write"].bound_to["kind"] == "model"
    [ask] = calls(emulator, "StreamQuery", "ask")
    [write] = calls(emulator, "GenerateContent", "write")
    assert ask.detail["engine"] == engine and ask.detail["input"] == "What about tides?"
    assert write.detail["input"] == "Write from Tides are predictable."
    finished = {e.step: e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED}
    assert finished["write"]["model"] == FLASH
    assert finished["ask"]["session_id"] == ask.detail["session_id"]
    assert emulator.sessions[ask.detail["session_id"]].user_id == f"{result.run_id}-ask"


async def test_scripted_throttling_is_retried_in_one_session(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(
        emulator, {**MOCK, "ask": [{"error": "throttled", "retry_after": 0.01}, {"error": "transient"}, "ok"]}
    )
    engine = emulator.add_engine("helper")
    path = write_workflow(tmp_path, flow(emulator, {"engine": engine}))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    attempts = calls(emulator, "StreamQuery", "ask")
    assert [e.status for e in attempts] == [429, 503, 200]
    assert len({e.detail["session_id"] for e in attempts}) == 1
    failed = [e.data for e in podium_events.events if e.type is EventType.CALL_FAILED]
    assert [f["kind"] for f in failed] == ["throttled", "transient"]
    assert failed[0]["retry_after"] == 0.01 and failed[0]["retryable"] is True


@pytest.mark.parametrize("operation", ["GenerateContent", "StreamQuery"])
@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        (lambda f, op: f.server_error(503, operation=op), "transient"),
        (lambda f, op: f.server_error(500, operation=op), "transient"),
        (lambda f, op: f.delay(3.0, operation=op), "timeout"),
        (lambda f, op: f.cut(operation=op), "transient"),
        (lambda f, op: f.malformed(operation=op), "transient"),
        (lambda f, op: f.throttle(retry_after=0, operation=op), "throttled"),
    ],
    ids=["503", "500", "read-timeout", "cut", "malformed", "throttle"],
)
async def test_retryable_faults_are_retried_and_the_run_succeeds(
    emulator: VertexEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    inject: Any,
    kind: str,
    operation: str,
) -> None:
    scripted(emulator, MOCK)
    binding = {"engine": emulator.add_engine("helper")} if operation == "StreamQuery" else {"model": FLASH}
    inject(emulator.faults, operation)
    # a read timeout only where the fault is a delay past it: elsewhere a tight one made the retry
    # itself time out on a loaded machine
    read_timeout = 1.0 if kind == "timeout" else 10.0
    path = write_workflow(tmp_path, flow(emulator, binding, read_timeout=read_timeout))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded" and result.outputs == {"brief": "A brief on tides."}
    failed = [e for e in podium_events.events if e.type is EventType.CALL_FAILED]
    assert [(e.step, e.data["kind"]) for e in failed] == [("ask", kind)]
    assert [e.fault is None for e in calls(emulator, operation, "ask")] == [False, True]


async def test_an_invalid_request_fails_the_step_without_a_retry(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, flow(emulator, {"model": "claude-haiku-4-5"}))
    emulator.brain = lambda turn: "never"
    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "invalid_request" and "was not found" in error.message
    assert [e.status for e in calls(emulator, "GenerateContent", "ask")] == [404]


async def test_the_denied_and_the_missing_fail_at_once_and_do_not_fall_back_silently(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    name = "projects/podium-emulator/locations/us-central1/reasoningEngines/404"
    path = write_workflow(tmp_path, flow(emulator, {"engine": name}))
    result = await run(path, podium_plugins)
    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "invalid_request" and "does not exist" in error.message
    assert emulator.count("GetReasoningEngine") == 1 and emulator.count("StreamQuery") == 0


async def test_exhausted_throttling_falls_back_to_local(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    emulator.faults.throttle(times=10, operation="StreamQuery")
    engine = emulator.add_engine("helper")
    text = flow(emulator, {"engine": engine}, extra=f"mock: {json.dumps(MOCK)}")
    text = text.replace("retry: {attempts: 3", "fallback: [local], retry: {attempts: 2")
    path = write_workflow(tmp_path, text)

    result = await run(path, podium_plugins)

    assert result.status == "succeeded"
    assert result.steps["ask"].provider == "local" and result.steps["write"].provider == "vertex"
    assert result.steps["ask"].output == "Tides are predictable."
    assert emulator.count("StreamQuery") == 2  # two attempts on vertex, then local
    failed = [
        (e.data["provider"], e.data["kind"]) for e in podium_events.events if e.type is EventType.CALL_FAILED
    ]
    assert failed == [("vertex", "throttled"), ("vertex", "throttled")]


async def test_a_resumed_step_continues_the_same_engine_session(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, {**MOCK, "ask": ["first", "Tides are predictable."]})
    engine = emulator.add_engine("helper")
    text = flow(emulator, {"engine": engine}).replace("attempts: 3", "attempts: 1")
    path = write_workflow(tmp_path, text)
    store = SQLiteStore(tmp_path / "runs.db")
    # the session is made, then the stream breaks: the run fails with the session already open
    emulator.faults.cut(operation="StreamQuery")

    first = await run(path, podium_plugins, store=store)
    assert first.status == "failed" and first.steps["ask"].error is not None
    resumed = await podium.aresume(first.run_id, store=store, plugins=podium_plugins.pm)

    assert resumed.status == "succeeded", resumed
    streams = calls(emulator, "StreamQuery", "ask")
    assert len(streams) == 2 and len({e.detail["session_id"] for e in streams}) == 1
    assert len([e for e in emulator.requests if e.detail.get("method") == "create_session"]) == 1
    session = emulator.sessions[streams[0].detail["session_id"]]
    # the engine's session holds both turns: the cut one and the resumed one
    assert [e["content"]["parts"][0]["text"] for e in session.events] == [
        "What about tides?",
        "first",
        "What about tides?",
        "Tides are predictable.",
    ]


def test_a_bad_binding_is_reported_with_its_line_before_anything_runs(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write_workflow(tmp_path, flow(emulator, {"engine": "reasoningEngines/x", "agent_id": "AB"}))
    with pytest.raises(BadInput) as caught:
        podium.load(path, plugins=podium_plugins.pm)
    text = str(caught.value)
    assert re.search(r"flow\.yaml:\d+:\d+: agents\.helper\.vertex\.engine: String should match", text)
    assert re.search(r"flow\.yaml:\d+:\d+: agents\.helper\.vertex\.agent_id: unknown key 'agent_id'", text)
    assert "keys of a vertex binding: engine, method, model" in text
    assert emulator.count() == 0
