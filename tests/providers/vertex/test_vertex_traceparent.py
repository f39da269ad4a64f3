"""Each Vertex call sends its span's traceparent on every request it makes, through both SDKs to the emulator.

generateContent (each function-calling round too, through google-genai) and Agent Engine (the
engine, its sessions, stream_query and query, through vertexai) carry the W3C ``traceparent``
header; a call without one sends none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vertex_support import FLASH, provider_for, request, scripted, write_workflow

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.core.tracecontext import call_key, traceparent
from podium.providers.vertex.emulator import VertexEmulator
from podium.testing import PluginsFixture

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
THIRD = "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01"
TOOLS = "podium_vertex_traceparent_tools"


@pytest.fixture
def tools_module(tmp_path: Path) -> Iterator[None]:
    (tmp_path / f"{TOOLS}.py").write_text(
        "def add(a: int, b: int) -> dict:\n    '''Add two whole numbers.'''\n    return {'sum': a + b}\n",
        encoding="utf-8",
    )
    yield
    sys.modules.pop(TOOLS, None)


def sent(emulator: VertexEmulator) -> list[tuple[str, str | None]]:
    return [(e.operation, e.traceparent) for e in emulator.requests]


async def test_gemini_sends_the_traceparent_on_each_function_calling_round_and_none_without_one(
    emulator: VertexEmulator, tmp_path: Path, tools_module: None
) -> None:
    scripted(emulator, {"s": [{"tool": {"name": "add", "input": {"a": 2, "b": 3}}}, {"reply": "five"}]})
    provider = provider_for(emulator, tmp_path)
    try:
        reply = await provider.invoke(request("2 + 3?", tools={"add": f"{TOOLS}:add"}, traceparent=TP))
        await provider.invoke(request("untraced"))
    finally:
        await provider.aclose()

    assert reply.text == "five"
    assert sent(emulator) == [("GenerateContent", TP), ("GenerateContent", TP), ("GenerateContent", None)]


async def test_agent_engine_sends_the_traceparent_on_every_request_of_the_call(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    adk = emulator.add_engine("helper")
    langchain = emulator.add_engine("lookup", kind="query")
    provider = provider_for(emulator, tmp_path)
    try:
        await provider.invoke(request("first", model=None, binding={"engine": adk}, traceparent=TP))
        await provider.invoke(
            request("asked", model=None, binding={"engine": langchain, "method": "query"}, traceparent=OTHER)
        )
        await provider.invoke(
            request("again", model=None, binding={"engine": adk}, session_id="run-1-t", traceparent=THIRD)
        )
    finally:
        await provider.aclose()

    # (the ADK engine's list_sessions and create_session are :query calls of its class methods)
    assert sent(emulator) == [
        ("GetReasoningEngine", TP),  # the engine, looked up once, by the call that first needs it
        ("Query", TP),  # list_sessions
        ("Query", TP),  # create_session
        ("StreamQuery", TP),
        ("GetReasoningEngine", OTHER),
        ("Query", OTHER),  # the query agent's query
        ("Query", THIRD),
        ("Query", THIRD),
        ("StreamQuery", THIRD),
    ]


async def test_a_run_sends_each_calls_own_traceparent(
    emulator: VertexEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, {"ask": {"reply": "Tides."}, "write": {"reply": "A brief."}})
    engine = emulator.add_engine("helper")
    emulator.faults.throttle(operation="GenerateContent")  # the model step's first attempt
    path = write_workflow(
        tmp_path,
        f"""
        name: traced
        defaults: {{provider: vertex, retry: {{attempts: 2, backoff: 0, jitter: false}}}}
        providers:
          vertex: {json.dumps(emulator.settings())}
        agents:
          helper: {{vertex: {json.dumps({"engine": engine})}}}
          writer: {{model: {FLASH}}}
        steps:
          ask: {{agent: helper, prompt: "Tides?"}}
          write: {{agent: writer, needs: [ask], prompt: "Write from {{{{ steps.ask.output }}}}"}}
        """,
    )

    wf = podium.load(path, plugins=podium_plugins.pm)
    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result
    started = [e for e in podium_events.events if e.type is EventType.CALL_STARTED]
    assert [e.step for e in started] == ["ask", "write", "write"]
    ask, throttled, retried = (traceparent(result.run_id, call_key(e.seq)) for e in started)
    log = sent(emulator)
    engine_calls, model_calls = log[:-2], log[-2:]
    assert engine_calls and {tp for _, tp in engine_calls} == {ask}
    assert engine_calls[-1][0] == "StreamQuery"
    assert model_calls == [("GenerateContent", throttled), ("GenerateContent", retried)]
    assert [e.status for e in emulator.requests[-2:]] == [429, 200]
