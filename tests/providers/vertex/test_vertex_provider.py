"""VertexProvider through google-genai and vertexai against the emulator: usage, sessions, tools, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from vertex_support import FLASH, provider_for, request, scripted

from podium.core.calls import Usage
from podium.core.errors import AuthError, CallTimeout, InvalidRequest, StepError, Throttled, TransientError
from podium.providers._kit.brains import Answer
from podium.providers.vertex.emulator import VertexEmulator


async def test_gemini_usage_counts_cached_tokens_apart_and_thinking_as_output(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    emulator.brain = lambda turn: Answer(
        "Tides.", Usage(input_tokens=80, cache_read_tokens=20, output_tokens=30)
    )
    emulator.thoughts_tokens = 12
    provider = provider_for(emulator, tmp_path)
    reply = await provider.invoke(
        request("Why tides?", instructions="Be brief.", options={"max_tokens": 100})
    )
    await provider.aclose()

    assert reply.text == "Tides." and reply.model == FLASH
    # prompt 100 = 80 fresh + 20 cached; output 30 = 18 candidates + 12 thoughts (billed as output)
    assert reply.usage == Usage(input_tokens=80, cache_read_tokens=20, output_tokens=30)
    assert reply.native["usage_metadata"]["thoughts_token_count"] == 12
    assert "usage_unknown" not in reply.native
    [served] = emulator.requests
    assert served.detail["step"] == "s" and served.detail["agent"] == "a"  # podium's labels


async def test_a_function_call_round_trip_runs_the_declared_tool(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    (tmp_path / "sea_tools.py").write_text(
        "def add(a: int, b: int) -> dict:\n    '''Add two whole numbers.'''\n    return {'sum': a + b}\n"
    )
    scripted(emulator, {"s": [{"tool": {"name": "add", "input": {"a": 2, "b": 3}}}, {"reply": "five"}]})
    provider = provider_for(emulator, tmp_path)
    reply = await provider.invoke(request("2 + 3?", tools={"add": "sea_tools:add"}))
    await provider.aclose()

    assert reply.text == "five"
    assert untimed(reply.native["tool_calls"]) == [
        {"name": "add", "arguments": {"a": 2, "b": 3}, "result": {"sum": 5}}
    ]
    first, second = emulator.requests
    assert first.detail["tool"] == "add"
    assert [json.loads(r) for r in second.detail["tool_results"]] == [{"output": {"sum": 5}}]
    assert reply.usage.requests == 2  # two generateContent calls, both metered


async def test_a_tool_the_agent_does_not_declare_is_refused_by_the_model(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    scripted(emulator, {"s": [{"tool": {"name": "weather", "input": {}}}]})
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest, match="weather"):
        await provider.invoke(request("rain?"))
    await provider.aclose()


async def test_an_adk_engine_step_reuses_its_session_and_reports_usage(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    scripted(emulator, {"s": [{"reply": "one", "usage": {"input_tokens": 9, "output_tokens": 4}}, "two"]})
    engine = emulator.add_engine("helper")
    provider = provider_for(emulator, tmp_path)
    first = await provider.invoke(request("hi", binding={"engine": engine}))
    again = await provider.invoke(request("hi again", binding={"engine": engine}, attempt=2))
    await provider.aclose()

    assert (first.text, again.text) == ("one", "two")
    assert first.usage == Usage(input_tokens=9, output_tokens=4)
    assert first.session_id == again.session_id and first.native["session_created"] is True
    assert again.native["session_created"] is False  # found again by its user: podium's session id
    session = emulator.sessions[first.session_id or ""]
    assert session.user_id == "run-1-s" and session.state["podium:step"] == "s"
    assert [m for m in emulator.requests if m.detail.get("method") == "create_session"].__len__() == 1


async def test_an_engine_bound_by_its_id_is_completed_with_project_and_location(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    engine = emulator.add_engine("helper")
    provider = provider_for(emulator, tmp_path)
    reply = await provider.invoke(
        request("hi", binding={"engine": engine.rsplit("/", 1)[1], "model": "gemini-2.5-pro"})
    )
    await provider.aclose()
    assert reply.text == "hi" and reply.native["engine"] == engine
    assert reply.model == "gemini-2.5-pro"  # what the engine runs: its calls are priced as that model


@pytest.mark.parametrize(
    ("kind", "binding"),
    [("query", {"method": "query"}), ("adk", {})],
    ids=["query-agent", "adk-agent-without-usage"],
)
async def test_an_engine_that_reports_no_usage_reads_as_unknown_not_zero(
    emulator: VertexEmulator, tmp_path: Path, kind: str, binding: dict[str, Any]
) -> None:
    engine = emulator.add_engine("helper", kind=kind, reports_usage=False)
    provider = provider_for(emulator, tmp_path)
    reply = await provider.invoke(request("tides", binding={"engine": engine, **binding}))
    await provider.aclose()
    assert reply.text == "tides"
    assert reply.native["usage_unknown"] is True
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (0, 0)


GEMINI, STREAM, QUERY = "GenerateContent", "StreamQuery", "Query"


@pytest.mark.parametrize("operation", [GEMINI, STREAM, QUERY])
@pytest.mark.parametrize(
    ("inject", "error", "kind"),
    [
        (lambda f, op: f.throttle(retry_after=0.5, operation=op), Throttled, "throttled"),
        (lambda f, op: f.server_error(500, operation=op), TransientError, "transient"),
        (lambda f, op: f.server_error(503, operation=op), TransientError, "transient"),
        (lambda f, op: f.delay(1.0, operation=op), CallTimeout, "timeout"),
        (lambda f, op: f.cut(operation=op), TransientError, "transient"),
        (lambda f, op: f.malformed(operation=op), TransientError, "transient"),
        (lambda f, op: f.deny(operation=op), AuthError, "auth"),
    ],
    ids=["throttle", "500", "503", "read-timeout", "cut", "malformed", "denied"],
)
async def test_every_fault_is_mapped_to_podiums_error(
    emulator: VertexEmulator, tmp_path: Path, operation: str, inject: Any, error: type, kind: str
) -> None:
    if operation == QUERY:
        binding = {"engine": emulator.add_engine("helper", kind="query"), "method": "query"}
    elif operation == STREAM:
        binding = {"engine": emulator.add_engine("helper")}
    else:
        binding = {}
    inject(emulator.faults, operation)
    provider = provider_for(emulator, tmp_path, read_timeout=0.3)
    with pytest.raises(StepError) as caught:
        await provider.invoke(request("hi", binding=binding))
    await provider.aclose()
    assert type(caught.value) is error and caught.value.kind == kind
    assert emulator.count(operation) == 1  # the SDKs' own retries are off: podium's policy retries
    if kind == "throttled":
        assert caught.value.retry_after == 0.5  # from google.rpc.RetryInfo
    if kind == "auth":
        assert "gcloud auth application-default login" in (caught.value.fix or "")


async def test_an_error_event_inside_a_stream_is_classified(emulator: VertexEmulator, tmp_path: Path) -> None:
    engine = emulator.add_engine("helper")
    emulator.faults.stream_error("RESOURCE_EXHAUSTED", operation=STREAM)
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(Throttled, match="Injected stream error"):
        await provider.invoke(request("hi", binding={"engine": engine}))
    await provider.aclose()


@pytest.mark.parametrize(
    ("binding", "model", "options", "message", "fix"),
    [
        ({}, None, {}, "neither a Vertex Agent Engine nor a model", "providers.vertex.models"),
        ({}, "smart", {}, "was not found", "map it under providers.vertex.models"),
        ({}, FLASH, {"frobnicate": 1}, "option 'frobnicate' is not a Gemini", "GenerateContentConfig"),
        (
            {"engine": "projects/podium-emulator/locations/us-central1/reasoningEngines/77"},
            None,
            {},
            "does not exist",
            "check agents.a.vertex.engine",
        ),
        ({"engine": "not-an-engine"}, None, {}, "not a valid Vertex binding", "reasoningEngines/ID"),
        ({"agent_id": "x"}, None, {}, "Extra inputs are not permitted", "vertex: {model: gemini-2.5-flash}"),
    ],
    ids=["no-target", "logical-model", "unknown-option", "unknown-engine", "bad-engine-name", "unknown-key"],
)
async def test_bad_input_fails_with_a_fix_and_no_retry(
    emulator: VertexEmulator,
    tmp_path: Path,
    binding: dict[str, Any],
    model: str | None,
    options: dict[str, Any],
    message: str,
    fix: str,
) -> None:
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest) as caught:
        await provider.invoke(request("hi", binding=binding, model=model, options=options))
    await provider.aclose()
    assert message in caught.value.message and fix in (caught.value.fix or ""), caught.value
    assert caught.value.retryable is False


async def test_without_credentials_the_error_says_how_to_sign_in(tmp_path: Path) -> None:
    from podium.core.calls import ProviderEnv
    from podium.providers.vertex.config import VertexConfig
    from podium.providers.vertex.provider import VertexProvider

    provider = VertexProvider(
        VertexConfig(project="p1", endpoint_url="http://127.0.0.1:9"), ProviderEnv("w", tmp_path)
    )
    with pytest.raises(AuthError) as caught:
        await provider.invoke(request("hi"))
    await provider.aclose()
    assert "no Google credentials" in caught.value.message
    assert "--emulate" in (caught.value.fix or "")


async def test_an_engine_without_the_bound_method_says_which_it_has(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    engine = emulator.add_engine("summariser", kind="query")  # a query agent, bound as if ADK
    provider = provider_for(emulator, tmp_path)
    with pytest.raises(InvalidRequest) as caught:
        await provider.invoke(request("hi", binding={"engine": engine}))
    await provider.aclose()
    assert "has no list_sessions, create_session (it has: query, stream_query)" in caught.value.message
    assert "vertex.method to query" in (caught.value.fix or "")
    assert emulator.count("StreamQuery") == 0


def test_a_retry_after_header_counts_when_there_is_no_retry_info() -> None:
    import httpx
    from google.genai import errors

    from podium.providers.vertex.errors import from_api_error

    proxy = httpx.Response(
        429, headers={"Retry-After": "3"}, request=httpx.Request("POST", "http://127.0.0.1")
    )
    exc = errors.ClientError(
        429, {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}, proxy
    )
    error = from_api_error(exc, "here")
    assert isinstance(error, Throttled) and error.retry_after == 3.0
    assert error.message == "here: 429 RESOURCE_EXHAUSTED: slow down"


def untimed(calls: list[dict]) -> list[dict]:
    """Tool call records without their timing (when it began, how long it took), which varies."""
    assert all("started_at" in c and c["duration_ms"] >= 0 for c in calls)
    return [{k: v for k, v in c.items() if k not in ("started_at", "duration_ms")} for c in calls]
