"""Bedrock's wire format, as botocore reads it: AWS event-stream frames, rest-json errors, reply shapes.

Every field here was checked against botocore's own service models (``bedrock-agent-runtime``
2023-07-26, ``bedrock-runtime`` 2023-09-30) and its event-stream parser (``botocore/eventstream.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from podium.core.calls import Usage
from podium.providers._kit.emulator import new_id
from podium.providers._kit.http import HttpResponse

EVENT_STREAM = "application/vnd.amazon.eventstream"
JSON = "application/json"

# --- event-stream framing -----------------------------------------------------------------------
# [total u32][headers u32][prelude crc u32][headers][payload][message crc u32], big-endian; a
# header is [name len u8][name][type u8 = 7, a string][value len u16][value].


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + struct.pack("!BH", 7, len(v)) + v


def frame(headers: Mapping[str, str], payload: bytes, *, corrupt: bool = False) -> bytes:
    """One event-stream message; `corrupt` breaks its message checksum (a malformed frame)."""
    encoded = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    crc = binascii.crc32(message) & 0xFFFFFFFF
    return message + struct.pack("!I", crc ^ 0xFFFFFFFF if corrupt else crc)


def event(event_type: str, body: Mapping[str, Any], *, corrupt: bool = False) -> bytes:
    """A modelled event (`chunk`, `trace`, `returnControl`, `files`) with a JSON payload."""
    headers = {":message-type": "event", ":event-type": event_type, ":content-type": JSON}
    return frame(headers, json.dumps(body).encode(), corrupt=corrupt)


def exception_event(code: str, message: str) -> bytes:
    """A modelled error inside a 200 stream; `code` is the lowerCamel member name (throttlingException)."""
    headers = {":message-type": "exception", ":exception-type": code, ":content-type": JSON}
    return frame(headers, json.dumps({"message": message}).encode())


# --- the agent's reply as events ----------------------------------------------------------------


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chunk_event(text: str) -> bytes:
    return event("chunk", {"bytes": base64.b64encode(text.encode()).decode()})


def _split(total: int, share: float) -> tuple[int, int]:
    first = int(total * share)
    return first, total - first


def trace_events(
    *,
    agent_id: str,
    alias_id: str,
    version: str,
    session_id: str,
    model: str | None,
    prompt: str,
    reply: str,
    usage: Usage,
    finish: bool = True,
) -> list[dict[str, Any]]:
    """The trace parts a classic Bedrock agent sends for one answer, as TracePart payloads.

    Two model invocations, pre-processing then orchestration, share the brain's usage between
    them (a client must sum every model invocation's usage, as it must with the real service).
    The final observation carries timing but no usage, as the service's does; a reply that
    returns control (`finish` false) has none.
    """
    trace_id = new_id().hex[:8]
    pre_in, orch_in = _split(usage.input_tokens, 0.25)
    pre_out, orch_out = _split(usage.output_tokens, 0.1)
    stamp = now()

    def part(trace: dict[str, Any]) -> dict[str, Any]:
        return {
            "agentId": agent_id,
            "agentAliasId": alias_id,
            "agentVersion": version,
            "sessionId": session_id,
            "eventTime": stamp,
            "trace": trace,
        }

    def metadata(input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "startTime": stamp,
            "endTime": stamp,
            "totalTimeMs": 1,
            "clientRequestId": str(new_id()),
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens},
        }

    model_input = {"traceId": f"{trace_id}-pre-0", "text": prompt, "type": "PRE_PROCESSING"}
    if model:
        model_input["foundationModel"] = model
    pre = [
        part({"preProcessingTrace": {"modelInvocationInput": model_input}}),
        part(
            {
                "preProcessingTrace": {
                    "modelInvocationOutput": {
                        "traceId": f"{trace_id}-pre-0",
                        "parsedResponse": {"isValid": True, "rationale": "The input is a valid request."},
                        "rawResponse": {"content": "<category>D</category>"},
                        "metadata": metadata(pre_in, pre_out),
                    }
                }
            }
        ),
    ]
    orchestration_input = {**model_input, "traceId": f"{trace_id}-0", "type": "ORCHESTRATION"}
    orchestration = [
        part({"orchestrationTrace": {"modelInvocationInput": orchestration_input}}),
        part(
            {
                "orchestrationTrace": {
                    "modelInvocationOutput": {
                        "traceId": f"{trace_id}-0",
                        "rawResponse": {"content": reply},
                        "metadata": metadata(orch_in, orch_out),
                    }
                }
            }
        ),
        part({"orchestrationTrace": {"rationale": {"traceId": f"{trace_id}-0", "text": "Answer directly."}}}),
        part(
            {
                "orchestrationTrace": {
                    "observation": {
                        "traceId": f"{trace_id}-0",
                        "type": "FINISH",
                        "finalResponse": {
                            "text": reply,
                            "metadata": {"startTime": stamp, "endTime": stamp, "operationTotalTimeMs": 1},
                        },
                    }
                }
            }
        ),
    ]
    return pre + (orchestration if finish else orchestration[:-1])


def _parameter(name: str, value: Any) -> dict[str, str]:
    """A FunctionParameter: every value travels as text, with the type the function declares."""
    if isinstance(value, bool):
        return {"name": name, "type": "boolean", "value": "true" if value else "false"}
    if isinstance(value, int):
        return {"name": name, "type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"name": name, "type": "number", "value": repr(value)}
    if isinstance(value, list):
        return {"name": name, "type": "array", "value": json.dumps(value)}
    if isinstance(value, str):
        return {"name": name, "type": "string", "value": value}
    return {"name": name, "type": "string", "value": json.dumps(value)}


def return_control(
    invocation_id: str, agent_id: str, action_group: str, function: str, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """A ReturnControlPayload asking the caller to run one function of a RETURN_CONTROL action group."""
    return {
        "invocationId": invocation_id,
        "invocationInputs": [
            {
                "functionInvocationInput": {
                    "actionGroup": action_group,
                    "actionInvocationType": "RESULT",
                    "agentId": agent_id,
                    "function": function,
                    "parameters": [_parameter(k, v) for k, v in arguments.items()],
                }
            }
        ],
    }


# --- rest-json replies --------------------------------------------------------------------------


def request_id() -> str:
    return str(new_id())


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        status,
        {"Content-Type": JSON, "x-amzn-RequestId": request_id(), **(headers or {})},
        json.dumps(body).encode(),
    )


def error_response(
    status: int, code: str, message: str, *, retry_after: float | None = None, **extra: Any
) -> HttpResponse:
    """A rest-json error as AWS sends it: the code in ``x-amzn-ErrorType``, ``{"message"}`` as body."""
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return json_response(status, {"message": message, **extra}, headers)


def validation_error(message: str) -> HttpResponse:
    return error_response(400, "ValidationException", message)


def constraint_error(value: str, member: str, constraint: str) -> HttpResponse:
    return validation_error(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must {constraint}"
    )


def not_found(message: str) -> HttpResponse:
    return error_response(404, "ResourceNotFoundException", message)


def converse_body(
    text: str,
    usage: Usage,
    *,
    latency_ms: int,
    stop_reason: str = "end_turn",
    content: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ConverseResponse: output, stopReason, usage (with the cache counts when any) and metrics.

    `content` replaces the one text block (a ``toolUse`` block when the model asks for a tool).
    """
    token_usage: dict[str, int] = {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_tokens,
    }
    if usage.cache_read_tokens:
        token_usage["cacheReadInputTokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        token_usage["cacheWriteInputTokens"] = usage.cache_write_tokens
    return {
        "output": {"message": {"role": "assistant", "content": content or [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": token_usage,
        "metrics": {"latencyMs": latency_ms},
    }


def converse_stream_events(
    text: str,
    usage: Usage,
    *,
    latency_ms: int,
    stop_reason: str = "end_turn",
    tool_use: Mapping[str, Any] | None = None,
) -> list[bytes]:
    """ConverseStream's events, framed: messageStart, a content block (text deltas, or a toolUse
    start and its input as one JSON delta), contentBlockStop, messageStop, then metadata with the
    usage and metrics a ConverseResponse would carry."""
    frames = [event("messageStart", {"role": "assistant"})]
    if tool_use is not None:
        start = {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}}
        frames.append(event("contentBlockStart", {"start": start, "contentBlockIndex": 0}))
        delta = {"toolUse": {"input": json.dumps(tool_use["input"])}}
        frames.append(event("contentBlockDelta", {"delta": delta, "contentBlockIndex": 0}))
    else:
        pieces = [text[i : i + 24] for i in range(0, len(text), 24)] or [""]
        frames += [event("contentBlockDelta", {"delta": {"text": p}, "contentBlockIndex": 0}) for p in pieces]
    frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(event("messageStop", {"stopReason": stop_reason}))
    whole = converse_body(text, usage, latency_ms=latency_ms)
    frames.append(event("metadata", {"usage": whole["usage"], "metrics": whole["metrics"]}))
    return frames


def model_chunk(body: Mapping[str, Any]) -> bytes:
    """One InvokeModelWithResponseStream chunk: the model's own event, base64 in ``bytes``."""
    return event("chunk", {"bytes": base64.b64encode(json.dumps(body).encode()).decode()})


def caller_identity(account_id: str) -> HttpResponse:
    """STS GetCallerIdentity's answer (the query protocol's XML): who the dummy credentials are."""
    body = (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<GetCallerIdentityResult>"
        f"<Arn>arn:aws:iam::{account_id}:user/podium-emulator</Arn>"
        "<UserId>AIDAPODIUMEMULATOR0001</UserId>"
        f"<Account>{account_id}</Account>"
        "</GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    )
    return HttpResponse(200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id()}, body.encode())


def not_implemented(operation: str) -> HttpResponse:
    """An operation of the service models the emulator does not serve: a 501 naming it (which
    botocore does not retry), in the service's error shape."""
    return error_response(
        501, "NotImplementedException", f"not implemented by podium's emulator: {operation}"
    )
