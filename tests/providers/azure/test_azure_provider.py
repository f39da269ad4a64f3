"""AzureProvider through azure-ai-projects and openai against the emulator: targets, usage, tools, errors.

The SDKs' own retries are off, so each call is exactly the requests the emulator logs, and every
fault comes back as the podium error the retry policy acts on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure_support import MODEL, provider_for, request, scripted

from podium.core.calls import Message
from podium.core.errors import AgentFailed, AuthError, CallTimeout, InvalidRequest, Throttled, TransientError
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.azure.provider import AzureProvider

TOOLS = {"weather": "tools_for_tests:weather"}
HERE = Path(__file__).resolve().parent
RESPONSES = "CreateResponse"


async def test_a_model_deployment_call_reports_usage_with_cached_tokens_apart(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    scripted(
        emulator,
        {"s": {"reply": "Paris", "usage": {"input_tokens": 90, "output_tokens": 7, "cache_read_tokens": 30}}},
    )
    provider = provider_for(emulator, tmp_path)
    try:
        reply = await provider.invoke(request("Capital of France?", instructions="Be brief."))
    finally:
        await provider.aclose()

    assert reply.text == "Paris" and reply.model == MODEL
    assert (reply.usage.input_tokens, reply.usage.cache_read_tokens, reply.usage.output_tokens) == (90, 30, 7)
    [call] = emulator.requests
    assert call.operation == "CreateResponse" and call.detail["model"] == MODEL
    assert call.detail["step"] == "s" and call.detail["agent"] == "a"  # podium's metadata tags
    assert reply.native["deployment"] == MODEL and reply.response_id and reply.response_id.startswith("resp_")


async def test_the_model_binding_wins_over_the_agents_model(emulator: AzureEmulator, tmp_path: Path) -> None:
    provider = provider_for(emulator, tmp_path)
    try:
        reply = await provider.invoke(request("hi", binding={"model": "gpt-4.1-mini"}))
    finally:
        await provider.aclose()
    assert reply.model == "gpt-4.1-mini" and emulator.requests[0].detail["model"] == "gpt-4.1-mini"


async def test_a_foundry_agent_by_name_talks_in_one_conversation_per_run_step(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    emulator.add_agent("helper", model="gpt-4o-mini", instructions="Answer briefly.")
    provider = provider_for(emulator, tmp_path)
    try:
        first = await provider.invoke(request("one", binding={"agent": "helper"}))
        again = await provider.invoke(request("one", binding={"agent": "helper"}, attempt=2))
        other = await provider.invoke(
            request("two", step="t", session_id="run-1-t", binding={"agent": "helper"})
        )
    finally:
        await provider.aclose()

    assert first.text == "one" and first.model == "gpt-4o-mini"
    assert first.session_id == again.session_id != other.session_id
    assert first.session_id and first.session_id.startswith("conv_")
    assert first.native["agent"] == "helper" and first.native["conversation"] == first.session_id
    assert len(emulator.conversations[first.session_id].items) == 4  # two turns in the same conversation
    remembered = json.loads((tmp_path / ".podium" / "azure-conversations.json").read_text())
    assert {v["id"] for v in remembered["conversations"].values()} == {first.session_id, other.session_id}
    assert emulator.count("CreateConversation") == 2


async def test_a_pinned_version_is_sent_in_the_agent_reference(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    emulator.add_agent("helper", model="gpt-4o")
    emulator.add_agent("helper", model="gpt-4o-mini")
    provider = provider_for(emulator, tmp_path)
    try:
        reply = await provider.invoke(request("hi", binding={"agent": "helper", "version": "1"}))
    finally:
        await provider.aclose()
    assert reply.model == "gpt-4o" and reply.native["agent_version"] == "1"


async def test_a_repair_sends_only_the_new_message_into_the_conversation(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path)
    try:
        first = await provider.invoke(request("give JSON", binding={"agent": "helper"}))
        repaired = request("give JSON", binding={"agent": "helper"}).model_copy(
            update={
                "messages": [
                    Message(role="user", content="give JSON"),
                    Message(role="assistant", content="give JSON"),
                    Message(role="user", content="that was not JSON"),
                ]
            }
        )
        second = await provider.invoke(repaired)
    finally:
        await provider.aclose()
    assert second.text == "that was not JSON" and second.session_id == first.session_id
    assert emulator.requests[-1].detail["input"] == [
        {"type": "message", "role": "user", "content": "that was not JSON"}
    ]


async def test_a_deleted_conversation_is_started_anew(emulator: AzureEmulator, tmp_path: Path) -> None:
    emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path)
    try:
        first = await provider.invoke(request("hi", binding={"agent": "helper"}))
        del emulator.state.conversations[first.session_id]
        second = await provider.invoke(request("hi", binding={"agent": "helper"}))
    finally:
        await provider.aclose()
    assert second.text == "hi" and second.session_id != first.session_id


@pytest.mark.parametrize("bound", [False, True], ids=["deployment", "agent"])
async def test_a_function_tool_round_trip(
    emulator: AzureEmulator, tmp_path: Path, bound: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    scripted(
        emulator,
        {
            "s": [
                {"tool": {"name": "weather", "input": {"city": "Oslo", "days": 2}}},
                {"reply": "Rain in Oslo."},
            ]
        },
    )
    emulator.add_agent("helper")
    binding = {"agent": "helper"} if bound else {}
    provider = provider_for(emulator, HERE)
    provider.conversations.path = tmp_path / "conversations.json"
    try:
        reply = await provider.invoke(request("Weather in Oslo?", binding=binding, tools=TOOLS))
    finally:
        await provider.aclose()

    assert reply.text == "Rain in Oslo." and reply.usage.requests == 2
    [done] = reply.native["tool_calls"]
    assert done["name"] == "weather" and done["arguments"] == {"city": "Oslo", "days": 2}
    assert done["result"] == {"city": "Oslo", "days": 2, "sky": "rain"}
    calls = [e for e in emulator.requests if e.operation == "CreateResponse"]
    assert calls[1].detail["tool_result"] == [json.dumps(done["result"])]
    if bound:  # the conversation holds the function call: only its output is sent
        assert [i["type"] for i in calls[1].detail["input"]] == ["function_call_output"]
    else:  # stateless: the whole exchange again, and the tool declared with its parameters
        assert [i["type"] for i in calls[1].detail["input"]] == [
            "message",
            "function_call",
            "function_call_output",
        ]


async def test_the_deployment_path_declares_the_tools_schema(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    seen: list[dict] = []
    original = emulator._create_response

    def spy(req, match, detail):  # type: ignore[no-untyped-def]
        seen.append(json.loads(req.body))
        return original(req, match, detail)

    emulator._routes[0] = emulator._routes[0].__class__(
        "POST", emulator._routes[0].path, "CreateResponse", emulator._guard(spy, rest=False)
    )
    provider = provider_for(emulator, HERE)
    try:
        await provider.invoke(request("hi", tools=TOOLS))
    finally:
        await provider.aclose()
    [tool] = seen[0]["tools"]
    assert tool == {
        "type": "function",
        "name": "weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": False,
        "description": "Today's weather in a city.",
    }


async def test_a_tool_the_agent_does_not_declare_or_that_raises(
    emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    scripted(emulator, {"s": {"tool": {"name": "weather", "input": {"city": "Oslo"}}}})
    provider = provider_for(emulator, HERE)
    try:
        with pytest.raises(InvalidRequest, match="does not declare"):
            await provider.invoke(request("hi"))
        with pytest.raises(AgentFailed, match="no weather for Oslo"):
            await provider.invoke(request("hi", tools={"weather": "tools_for_tests:broken"}))
    finally:
        await provider.aclose()


FAULTS = [
    ("throttle", lambda f: f.throttle(retry_after=2, operation=RESPONSES), Throttled),
    ("server_error_500", lambda f: f.server_error(500, operation=RESPONSES), TransientError),
    ("server_error_503", lambda f: f.server_error(503, operation=RESPONSES), TransientError),
    ("deny", lambda f: f.deny(operation=RESPONSES), AuthError),
    ("cut", lambda f: f.cut(operation=RESPONSES), TransientError),
    ("malformed", lambda f: f.malformed(operation=RESPONSES), TransientError),
    ("delay", lambda f: f.delay(2.0, operation=RESPONSES), CallTimeout),
    ("stream_error", lambda f: f.stream_error("rate_limit_exceeded", operation=RESPONSES), Throttled),
]


@pytest.mark.parametrize(("kind", "inject", "expected"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("bound", [False, True], ids=["deployment", "agent"])
async def test_every_fault_is_mapped_to_the_podium_error_the_policy_acts_on(
    emulator: AzureEmulator, tmp_path: Path, kind: str, inject: object, expected: type, bound: bool
) -> None:
    emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path, read_timeout=0.5)
    try:
        inject(emulator.faults)  # type: ignore[operator]
        with pytest.raises(expected) as failed:
            await provider.invoke(request("hi", binding={"agent": "helper"} if bound else {}))
        assert failed.value.provider == "azure"
        if kind == "throttle":
            assert failed.value.retry_after == 2
        if kind == "deny":
            assert "az login" in (failed.value.fix or "")
        emulator.faults.clear()
        assert (
            await provider.invoke(request("after", binding={"agent": "helper"} if bound else {}))
        ).text == "after"
    finally:
        await provider.aclose()
    assert emulator.count("CreateResponse") == 2  # no SDK retried on its own


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        ("throttled", Throttled, 429),
        ("transient", TransientError, 500),
        ("invalid_request", InvalidRequest, 400),
        ("auth", AuthError, 401),
    ],
)
async def test_a_scripted_error_comes_back_as_the_services_error(
    emulator: AzureEmulator, tmp_path: Path, error: str, expected: type, status: int
) -> None:
    scripted(emulator, {"s": {"error": error, "retry_after": 1}})
    provider = provider_for(emulator, tmp_path)
    try:
        with pytest.raises(expected):
            await provider.invoke(request("hi"))
    finally:
        await provider.aclose()
    assert emulator.requests[0].status == status


async def test_a_missing_agent_or_deployment_is_an_invalid_request_with_a_fix(
    emulator: AzureEmulator, tmp_path: Path
) -> None:
    emulator.deployments = {"gpt-4o"}
    provider = provider_for(emulator, tmp_path)
    try:
        with pytest.raises(InvalidRequest) as no_agent:
            await provider.invoke(request("hi", binding={"agent": "nobody"}))
        with pytest.raises(InvalidRequest) as no_deployment:
            await provider.invoke(request("hi", model="fast"))
    finally:
        await provider.aclose()
    assert "nobody" in no_agent.value.message and "Foundry portal" in (no_agent.value.fix or "")
    assert "DeploymentNotFound" in no_deployment.value.message
    assert "providers.azure.models" in (no_deployment.value.fix or "")


@pytest.mark.parametrize(
    ("binding", "says"),
    [
        ({"agent_id": "x"}, "agent_id"),
        ({"agent": "-bad-"}, "agent"),
        ({"version": "2"}, "no agent"),
        ({"agent": "a", "version": "latest"}, "version"),
    ],
)
async def test_a_bad_binding_fails_before_anything_is_sent(
    emulator: AzureEmulator, tmp_path: Path, binding: dict, says: str
) -> None:
    provider = provider_for(emulator, tmp_path)
    try:
        with pytest.raises(InvalidRequest, match=says) as bad:
            await provider.invoke(request("hi", binding=binding))
    finally:
        await provider.aclose()
    assert "azure: {agent:" in (bad.value.fix or "") and emulator.requests == []


async def test_no_endpoint_says_what_to_set(tmp_path: Path) -> None:
    from podium.core.calls import ProviderEnv
    from podium.providers.azure.config import AzureConfig

    provider = AzureProvider(AzureConfig(token="t"), ProviderEnv(workflow="w", base_dir=tmp_path))
    try:
        with pytest.raises(InvalidRequest) as missing:
            await provider.invoke(request("hi"))
    finally:
        await provider.aclose()
    assert "AZURE_AI_PROJECT_ENDPOINT" in (missing.value.fix or "")


@pytest.mark.parametrize(
    "endpoint", ["https://myres.openai.azure.com", "https://myres.services.ai.azure.com/api/projects"]
)
async def test_an_endpoint_that_is_not_a_project_endpoint_says_so(tmp_path: Path, endpoint: str) -> None:
    from podium.core.calls import ProviderEnv
    from podium.providers.azure.config import AzureConfig

    config = AzureConfig(token="t", endpoint=endpoint)
    with pytest.raises(InvalidRequest) as wrong:  # before any call: the engine records it, then falls back
        AzureProvider(config, ProviderEnv(workflow="w", base_dir=tmp_path))
    assert "not a Foundry project endpoint" in wrong.value.message and "/api/projects/" in wrong.value.message
    assert wrong.value.fix and "AZURE_AI_PROJECT_ENDPOINT" in wrong.value.fix


async def test_neither_agent_nor_model_says_how_to_bind(emulator: AzureEmulator, tmp_path: Path) -> None:
    provider = provider_for(emulator, tmp_path)
    try:
        with pytest.raises(InvalidRequest, match="neither a Foundry agent nor a model") as unbound:
            await provider.invoke(request("hi", model=None))
    finally:
        await provider.aclose()
    assert "podium deploy" in (unbound.value.fix or "")


async def test_a_steps_timeout_ends_the_sdk_call_too(emulator: AzureEmulator, tmp_path: Path) -> None:
    import time

    provider = provider_for(emulator, tmp_path, read_timeout=8)
    emulator.faults.delay(6, operation=RESPONSES)
    started = time.monotonic()
    try:
        with pytest.raises(CallTimeout):
            await provider.invoke(request("hi", timeout=0.3))
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 4  # the thread is free long before the read timeout
