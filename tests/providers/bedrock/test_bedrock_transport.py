"""Bedrock calls on the event loop (`bedrock/transport.py`, ``transport: loop``, the default): Converse and
InvokeAgent as botocore's own requests, signed and parsed, with no worker thread; the same answers and
errors as boto3's path; boto3 in threads kept where a setting needs it, or ``transport: threads``."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from bedrock_support import provider_for, request, scripted

from podium.core.errors import CallTimeout, InvalidRequest, StepError, Throttled, TransientError
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.bedrock.provider import BedrockProvider
from podium.providers.bedrock.transport import parse_timestamp

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def agent(emulator: BedrockEmulator) -> dict[str, str]:
    agent_id, alias_id = emulator.add_agent("helper")
    return {"agent_id": agent_id, "alias_id": alias_id}


async def test_converse_and_invoke_agent_run_on_the_loop_signed_and_traced_without_a_thread(
    emulator: BedrockEmulator, tmp_path: Path, agent: dict[str, str]
) -> None:
    provider = provider_for(emulator, tmp_path)  # the default transport
    assert provider.threaded_because is None
    model = await provider.invoke(request("what is 2+2?", traceparent=TRACEPARENT))
    again = await provider.invoke(request("and 4+4?"))
    managed = await provider.invoke(request("and 3+3?", binding=agent, traceparent=TRACEPARENT))
    assert provider.threads._pool is None  # no worker thread was started, InvokeAgent's stream included
    await provider.aclose()
    assert "what is 2+2?" in model.text and model.usage.requests == 1 and model.response_id
    assert "and 4+4?" in again.text
    assert "and 3+3?" in managed.text and managed.session_id == "run-1-s" and managed.native["trace"]
    assert managed.bound_to == {
        "kind": "agent",
        "id": f"{agent['agent_id']}/{agent['alias_id']}",
        "via": "binding",
    }
    seen = emulator.requests
    assert [e.operation for e in seen] == ["Converse", "Converse", "InvokeAgent"]
    assert [e.traceparent for e in seen] == [TRACEPARENT, None, TRACEPARENT]


async def test_in_aws_lambda_the_loop_sends_the_trace_id_header_as_boto3_does(
    emulator: BedrockEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    provider = provider_for(emulator, tmp_path)
    sent: list[dict[str, str]] = []
    send = provider.http.pool.request

    async def recorded(method: str, url: str, headers: dict[str, str], body: bytes) -> object:
        sent.append(dict(headers))
        return await send(method, url, headers, body)

    monkeypatch.setattr(provider.http.pool, "request", recorded)
    assert "hello" in (await provider.invoke(request())).text
    await provider.aclose()
    assert sent[0]["X-Amzn-Trace-Id"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


async def test_the_transport_reads_an_event_stream_as_boto3_does(
    emulator: BedrockEmulator, tmp_path: Path, agent: dict[str, str]
) -> None:
    provider = provider_for(emulator, tmp_path, transport="loop")
    params = {**{"agentId": agent["agent_id"], "agentAliasId": agent["alias_id"]}, "sessionId": "s-1"}
    reply = await provider.http.call(
        "bedrock-agent-runtime", "InvokeAgent", {**params, "inputText": "hi", "enableTrace": True}, {}
    )
    events = list(reply["completion"])
    await provider.aclose()
    assert b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e).decode().endswith("hi")
    assert any("trace" in e for e in events) and reply["sessionId"] == "s-1"


FAULTS = {
    "throttle": lambda f: f.throttle(retry_after=2),
    "delay": lambda f: f.delay(0.5),
    "cut": lambda f: f.cut(),
    "malformed": lambda f: f.malformed(),
    "denied": lambda f: f.deny(),
    "server-error": lambda f: f.server_error(503),
}
STREAM_FAULTS = {  # an error event inside InvokeAgent's event stream, after the 200
    "stream-throttled": lambda f: f.stream_error("throttlingException"),
    "stream-failed": lambda f: f.stream_error("dependencyFailedException"),
}


def _no_checksums(message: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x…", message)  # a malformed frame's CRCs differ from call to call


@pytest.fixture
def request_id(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request  # (`request` is this module's AgentRequest maker)


CASES = [("Converse", name, fault) for name, fault in FAULTS.items()] + [
    ("InvokeAgent", name, fault) for name, fault in {**FAULTS, **STREAM_FAULTS}.items()
]


@pytest.mark.parametrize(
    ("operation", "inject"), [pytest.param(op, fault, id=f"{op}-{name}") for op, name, fault in CASES]
)
async def test_a_fault_is_the_same_podium_error_on_the_loop_as_through_boto3(
    emulator: BedrockEmulator,
    tmp_path: Path,
    agent: dict[str, str],
    operation: str,
    inject,
    request_id: pytest.FixtureRequest,
) -> None:
    binding = agent if operation == "InvokeAgent" else None
    caught: list[StepError] = []
    for transport in ("threads", "loop"):
        inject(emulator.faults)
        provider = provider_for(emulator, tmp_path, transport=transport, read_timeout=0.2)
        assert provider.on_loop(request()) is (transport == "loop")
        with pytest.raises(StepError) as error:
            await provider.invoke(request(binding=binding))
        await provider.aclose()
        caught.append(error.value)
    boto3s, loops = caught
    assert type(loops) is type(boto3s) and loops.retryable == boto3s.retryable
    assert getattr(loops, "retry_after", None) == getattr(boto3s, "retry_after", None)
    if "cut" not in request_id.node.callspec.id:  # a cut: urllib3's and h11's own words for it differ
        assert _no_checksums(loops.message) == _no_checksums(boto3s.message)
    assert emulator.count(operation) == 2  # one request each: nothing retried behind podium's back


async def test_a_tool_an_agent_without_tools_is_asked_for_is_the_same_error_on_the_loop(
    emulator: BedrockEmulator, tmp_path: Path, agent: dict[str, str]
) -> None:
    ask = {"tool": {"name": "get_weather", "action_group": "tools", "input": {"city": "Paris"}}}
    scripted(emulator, {"s": [ask, ask]})
    caught: list[StepError] = []
    for transport in ("threads", "loop"):
        provider = provider_for(emulator, tmp_path, transport=transport)
        with pytest.raises(InvalidRequest) as error:
            await provider.invoke(request(binding=agent))
        await provider.aclose()
        caught.append(error.value)
    boto3s, loops = caught
    assert "'get_weather' (action group 'tools')" in loops.message and loops.message == boto3s.message
    assert loops.fix == boto3s.fix and emulator.count("InvokeAgent") == 2


async def test_an_unreachable_endpoint_is_transient_and_a_silent_one_a_timeout(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with BedrockEmulator() as emulator:
        settings = {"endpoint_url": f"http://127.0.0.1:{port}"}
        provider = provider_for(emulator, tmp_path, transport="loop", **settings)
        with pytest.raises(TransientError, match="cannot reach Bedrock"):
            await provider.invoke(request())
        await provider.aclose()
        emulator.faults.delay(0.5)
        provider = provider_for(emulator, tmp_path, transport="loop", read_timeout=0.2)
        with pytest.raises(CallTimeout, match="read timeout"):
            await provider.invoke(request())
        await provider.aclose()


async def test_a_connection_the_emulator_dropped_while_idle_is_replaced(tmp_path: Path) -> None:
    with BedrockEmulator() as first:
        port = int(first.endpoint_url.rsplit(":", 1)[1])
        provider = provider_for(first, tmp_path, transport="loop")
        assert "hello" in (await provider.invoke(request())).text
    with BedrockEmulator(port=port) as second:  # the same address; the kept connection is dead
        assert "again" in (await provider.invoke(request("again"))).text
        assert second.count("Converse") == 1
    await provider.aclose()


async def test_botocore_retries_keep_boto3s_own_path(emulator: BedrockEmulator, tmp_path: Path) -> None:
    emulator.faults.server_error(500)
    provider = provider_for(emulator, tmp_path, transport="loop", max_attempts=2)
    assert provider.threaded_because == "botocore retries (max_attempts > 1)"
    assert "hello" in (await provider.invoke(request())).text
    await provider.aclose()
    assert emulator.count("Converse") == 2  # botocore's attempts, as the setting asks


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("HTTP_PROXY", "http://127.0.0.1:9", "a proxy for http"),
        ("AWS_BEARER_TOKEN_BEDROCK", "a-key", "a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)"),
    ],
)
def test_a_proxy_or_an_api_key_keeps_boto3s_own_path(
    emulator: BedrockEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    why: str,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, value)
    provider = provider_for(emulator, tmp_path, transport="loop")
    assert isinstance(provider, BedrockProvider) and provider.threaded_because == why
    assert not provider.on_loop(request())


async def test_a_throttle_on_the_loop_carries_the_services_retry_after(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    emulator.faults.throttle(retry_after=3)
    provider = provider_for(emulator, tmp_path, transport="loop")
    with pytest.raises(Throttled) as caught:
        await provider.invoke(request())
    await provider.aclose()
    assert caught.value.retry_after == 3 and caught.value.provider == "bedrock"


def test_the_loop_is_the_default_and_transport_threads_keeps_boto3(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    assert provider_for(emulator, tmp_path).on_loop(request())
    assert not provider_for(emulator, tmp_path).on_loop(
        request(tools={"add": "tools:add"})
    )  # a tool may block
    provider = provider_for(emulator, tmp_path, transport="threads")
    assert provider.threaded_because == "transport: threads (as set)" and not provider.on_loop(request())


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-12-01T14:10:00Z",
        "2026-12-01T14:10:00.123Z",
        "2026-12-01T14:10:00.123456789Z",
        "2026-12-01T14:10:00+00:00",
        "2026-12-01T14:10:00+02:00",
        "2026-12-01T14:10:00",
        "2026-12-01 14:10:00Z",
        "1700000000.5",
        1700000000,
        "Tue, 01 Dec 2026 14:10:00 GMT",
    ],
)
def test_the_loops_timestamps_are_botocores_without_dateutil(stamp: object) -> None:
    from botocore.utils import parse_timestamp as botocores

    ours, theirs = parse_timestamp(stamp), botocores(stamp)
    assert ours == theirs and ours.isoformat() == theirs.isoformat()
    assert (ours.utcoffset() is None) is (theirs.utcoffset() is None)
