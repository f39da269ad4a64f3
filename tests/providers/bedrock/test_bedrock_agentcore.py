"""AgentCore Runtime through boto3's ``bedrock-agentcore`` client against the emulator, over HTTP.

The provider is called as the engine calls it; what the emulator received (its request log) and
what podium made of the reply (text, usage, error kind) are both checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_support import HAIKU, provider_for, request, scripted

from podium.core.errors import StepError
from podium.providers._kit.faults import Fault
from podium.providers.bedrock.agentcore import RuntimeReply, runtime_session_id, sse_events
from podium.providers.bedrock.emulator import BedrockEmulator

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def runtime_calls(emu: BedrockEmulator) -> list[Any]:
    return [e for e in emu.requests if e.operation == "InvokeAgentRuntime"]


async def call(emu: BedrockEmulator, tmp_path: Path, binding: dict[str, Any], **kw: Any) -> Any:
    provider = provider_for(emu, tmp_path)
    try:
        return await provider.invoke(request(binding=binding, **kw))
    finally:
        await provider.aclose()


@pytest.mark.parametrize(("stream", "reply"), [(None, "sse"), (True, "sse"), (False, "json")])
async def test_a_runtime_created_in_the_control_plane_answers_streamed_or_whole(
    emulator: BedrockEmulator, tmp_path: Path, stream: bool | None, reply: str
) -> None:
    scripted(
        emulator, {"s": {"reply": "Tides are regular.", "usage": {"input_tokens": 12, "output_tokens": 5}}}
    )
    control = boto3.client("bedrock-agentcore-control", **emulator.client_kwargs())
    created = control.create_agent_runtime(
        agentRuntimeName="helper",
        agentRuntimeArtifact={"containerConfiguration": {"containerUri": "example/helper:1"}},
        roleArn="arn:aws:iam::123456789012:role/runtime",
        networkConfiguration={"networkMode": "PUBLIC"},
    )
    assert control.get_agent_runtime(agentRuntimeId=created["agentRuntimeId"])["status"] == "READY"
    binding: dict[str, Any] = {"runtime_arn": created["agentRuntimeArn"], "model": HAIKU}
    if stream is not None:
        binding["stream"] = stream

    response = await call(emulator, tmp_path, binding, prompt='Say "hi"', traceparent=TRACEPARENT)

    assert response.text == "Tides are regular."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 5)
    assert response.model == HAIKU and "usage_unknown" not in response.native
    assert response.bound_to == {"kind": "agentcore", "id": created["agentRuntimeArn"], "via": "binding"}
    (sent,) = runtime_calls(emulator)
    assert sent.detail["reply"] == reply and sent.detail["input"] == 'Say "hi"'
    assert sent.detail["session_id"] == response.session_id == runtime_session_id(request())
    assert len(sent.detail["session_id"]) >= 33 and sent.detail["user_id"] == "run-1"
    assert sent.traceparent == TRACEPARENT
    assert (
        sent.detail["trace_id"]
        == "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
    )


async def test_no_usage_in_the_reply_is_unknown_usage_not_zero(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    emulator.agentcore.usage = False
    arn = emulator.add_runtime("helper")

    response = await call(emulator, tmp_path, {"runtime_arn": arn, "user_id": None, "qualifier": "1"})

    assert response.text == "hello" and response.native["usage_unknown"] is True
    assert response.usage.total_tokens == 0
    (sent,) = runtime_calls(emulator)
    assert sent.detail["user_id"] is None and sent.detail["qualifier"] == "1"


async def test_a_payload_template_is_the_body_sent(emulator: BedrockEmulator, tmp_path: Path) -> None:
    arn = emulator.add_runtime("helper")
    emulator.brain = lambda turn: f"got {turn.prompt}"
    payload = '{"input": {{ prompt | tojson }}, "step": "{{ step }}", "n": 2}'

    response = await call(emulator, tmp_path, {"runtime_arn": arn, "payload": payload}, prompt='a "b"\nc')

    assert response.text == 'got a "b"\nc'
    assert runtime_calls(emulator)[0].detail["input"] == 'a "b"\nc'


ERRORS = [
    ("ThrottlingException", "throttled", 429),
    ("ServiceQuotaExceededException", "throttled", 402),
    ("RetryableConflictException", "transient", 409),
    ("InternalServerException", "transient", 500),
    ("ValidationException", "invalid_request", 400),
    ("ResourceNotFoundException", "invalid_request", 404),
    ("AccessDeniedException", "auth", 403),
    ("RuntimeClientError", "agent_error", 424),
]


@pytest.mark.parametrize(("code", "kind", "status"), ERRORS)
async def test_every_error_of_the_service_maps_to_podiums_tree(
    emulator: BedrockEmulator, tmp_path: Path, code: str, kind: str, status: int
) -> None:
    arn = emulator.add_runtime("helper")
    emulator.faults.stream_error(code, operation="InvokeAgentRuntime")

    with pytest.raises(StepError) as caught:
        await call(emulator, tmp_path, {"runtime_arn": arn})

    assert caught.value.kind == kind and caught.value.provider == "bedrock"
    assert [e.status for e in runtime_calls(emulator)] == [status]
    if code == "RuntimeClientError":
        assert "runtime's agent failed (RuntimeClientError, HTTP 424)" in caught.value.message
        assert "CloudWatch" in (caught.value.fix or "")


async def test_a_runtime_client_error_names_the_agents_own_status(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    arn = emulator.add_runtime("helper")
    said = "Received error (502) from runtime. Please check your CloudWatch logs for more information."
    emulator.faults.inject(Fault("stream_error", code="RuntimeClientError", message=said))

    with pytest.raises(StepError) as caught:
        await call(emulator, tmp_path, {"runtime_arn": arn})

    assert caught.value.kind == "agent_error" and "the agent's status 502" in caught.value.message
    assert caught.value.retryable is False


async def test_a_throttle_carries_the_services_retry_after(emulator: BedrockEmulator, tmp_path: Path) -> None:
    arn = emulator.add_runtime("helper")
    emulator.faults.throttle(retry_after=7, operation="InvokeAgentRuntime")

    with pytest.raises(StepError) as caught:
        await call(emulator, tmp_path, {"runtime_arn": arn})

    assert caught.value.kind == "throttled" and caught.value.retry_after == 7


@pytest.mark.parametrize(("fault", "kind"), [("cut", "transient"), ("agent_error", "agent_error")])
async def test_a_stream_broken_mid_way_or_an_agent_error_event_fails_the_call(
    emulator: BedrockEmulator, tmp_path: Path, fault: str, kind: str
) -> None:
    arn = emulator.add_runtime("helper")
    if fault == "cut":
        emulator.faults.cut(operation="InvokeAgentRuntime")
    else:  # what the AgentCore SDK streams when the agent's generator raises
        emulator.faults.stream_error("ValueError", operation="InvokeAgentRuntime")

    with pytest.raises(StepError) as caught:
        await call(emulator, tmp_path, {"runtime_arn": arn})

    assert caught.value.kind == kind


async def test_a_runtime_in_another_account_or_not_ready_is_an_invalid_request_with_a_fix(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    elsewhere = "arn:aws:bedrock-agentcore:us-east-1:999999999999:runtime/helper-abcdefghij"
    failed = emulator.add_runtime("broken", status="CREATE_FAILED")

    for arn, said in ((elsewhere, "No agent runtime found"), (failed, "is CREATE_FAILED, not READY")):
        with pytest.raises(StepError) as caught:
            await call(emulator, tmp_path, {"runtime_arn": arn})
        assert caught.value.kind == "invalid_request" and said in caught.value.message
        assert "runtime_arn" in (caught.value.fix or "") and "get-agent-runtime" in (caught.value.fix or "")


async def test_a_failing_runtime_falls_back_to_its_converse_model(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    scripted(emulator, {"s": {"reply": "From the model.", "usage": {"input_tokens": 9, "output_tokens": 4}}})
    arn = emulator.add_runtime("helper")
    emulator.faults.stream_error("RuntimeClientError", operation="InvokeAgentRuntime")

    response = await call(emulator, tmp_path, {"runtime_arn": arn, "fallback_model": HAIKU})

    assert response.text == "From the model." and response.model == HAIKU
    via = f"fallback from AgentCore runtime {arn.rsplit('/', 1)[1]} (agent_error)"
    assert response.bound_to == {"kind": "model", "id": HAIKU, "via": via}
    assert response.native["fell_back"]["kind"] == "agent_error"
    assert [e.operation for e in emulator.requests] == ["InvokeAgentRuntime", "Converse"]


async def test_a_bad_request_does_not_fall_back(emulator: BedrockEmulator, tmp_path: Path) -> None:
    arn = emulator.add_runtime("helper")
    emulator.faults.stream_error("ValidationException", operation="InvokeAgentRuntime")

    with pytest.raises(StepError) as caught:
        await call(emulator, tmp_path, {"runtime_arn": arn, "fallback_model": HAIKU})

    assert caught.value.kind == "invalid_request" and emulator.count("Converse") == 0


@pytest.mark.parametrize(
    ("events", "text", "usage"),
    [
        # an AgentCore SDK agent yielding strings, then a total
        (['"Hel"', '"lo"', '{"usage": {"input_tokens": 3, "output_tokens": 2}}'], "Hello", (3, 2)),
        # Strands yielding every event: each text delta twice (its own, the model's); usage per model call
        (
            [
                '{"data": "Hi", "delta": {"text": "Hi"}}',
                '{"event": {"contentBlockDelta": {"delta": {"text": "Hi"}}}}',
                '{"event": {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 1}}}}',
                '{"event": {"metadata": {"usage": {"inputTokens": 7, "outputTokens": 2}}}}',
            ],
            "Hi",
            (12, 3),
        ),
        # one final answer, no deltas, no usage
        (['{"response": {"role": "assistant", "content": [{"text": "Done."}]}}'], "Done.", None),
        (["plain text"], "plain text", None),
    ],
)
def test_the_reply_shapes_read_from_a_stream(
    events: list[str], text: str, usage: tuple[int, int] | None
) -> None:
    raw = "".join(f"data: {e}\n\n" for e in events).encode()
    # split at odd places: an event may arrive in pieces
    read = RuntimeReply.from_stream(_Body([raw[:7], raw[7:30], raw[30:]]))

    assert read.text == text
    assert (None if read.usage is None else (read.usage.input_tokens, read.usage.output_tokens)) == usage


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'"just a string"', "just a string"),
        (b'{"result": "r"}', "r"),
        (b'{"output": {"message": {"content": [{"text": "o"}]}}}', "o"),
        (b'{"score": 7}', '{"score": 7}'),  # no reply key: the JSON itself, for a step's output schema
        (b"not json", "not json"),
    ],
)
def test_the_reply_shapes_read_from_a_body(body: bytes, text: str) -> None:
    assert RuntimeReply.from_body(body).text == text


def test_multi_line_sse_data_is_joined() -> None:
    assert list(sse_events([b"event: x\ndata: a\ndata: b\n\n: comment\ndata: c"])) == ["a\nb", "c"]


class _Body:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_chunks(self) -> Any:
        return iter(self.chunks)


def test_session_ids_are_stable_long_enough_and_distinct() -> None:
    first = runtime_session_id(request(session_id="20260101-000000-abcdef-ask"))
    assert first == runtime_session_id(request(session_id="20260101-000000-abcdef-ask"))
    assert first != runtime_session_id(request(session_id="20260101-000000-abcdef-ask-1"))
    assert 33 <= len(runtime_session_id(request(session_id="x"))) <= 100
    assert json.dumps(first).isascii()
