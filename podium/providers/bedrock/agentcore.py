"""An agent on Bedrock AgentCore Runtime: ``bedrock-agentcore`` InvokeAgentRuntime, its reply read whole.

The request (botocore's model of the service, 2024-02-28, is the final word on it):

- ``POST /runtimes/{agentRuntimeArn}/invocations[?qualifier=…]``, SigV4 as ``bedrock-agentcore``;
- the body is the payload: JSON, ``{"prompt": <the step's prompt>}`` unless the binding's
  ``payload:`` template says otherwise (`podium.providers._kit.payload`);
- ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id``: `runtime_session_id`, the same for every call
  of one run's step (and foreach item), so a retried or resumed call continues the session the
  runtime kept for it; ``X-Amzn-Bedrock-AgentCore-Runtime-User-Id``: the binding's ``user_id``
  (the run id by default);
- the trace context: ``traceparent`` (the step's span) and ``X-Amzn-Trace-Id`` (the same trace
  in X-Ray's form, which AgentCore's own observability reads); podium's spans carry no vendor
  ``tracestate``, so none is sent;
- ``X-Amzn-Bedrock-AgentCore-Runtime-Custom-Podium-Run`` / ``-Step`` / ``-Agent``: podium's tags,
  which AgentCore passes to the agent only when the runtime's ``requestHeaderConfiguration``
  allows them (the emulator's scripted brain answers by them).

The reply (`RuntimeReply`) is either ``text/event-stream`` (SSE ``data:`` lines, one JSON value
each, or plain text) or one body (JSON, else text); its text and usage are read as
docs/providers/bedrock.md ("AgentCore Runtime") describes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import AgentFailed
from podium.providers._kit import payload as payloads
from podium.providers._kit.propagation import TRACEPARENT, current_headers, sending
from podium.providers._kit.threads import SdkCall

SERVICE = "bedrock-agentcore"
CONTROL_SERVICE = "bedrock-agentcore-control"
ARN_EXAMPLE = "arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME-ID"
RUNTIME_ARN = re.compile(
    r"^arn:(?P<partition>aws(-[a-z]+)*):bedrock-agentcore:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})"
    r":runtime/(?P<id>(?P<name>[a-zA-Z][a-zA-Z0-9_]{0,47})-[a-zA-Z0-9]{10})$"
)
QUALIFIER = r"^([a-zA-Z][a-zA-Z0-9_]{0,47}|[1-9][0-9]{0,4})$"
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
TAG_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Podium-"  # + Run, Step, Agent
EVENT_STREAM = "text/event-stream"
JSON_TYPE = "application/json"

# where an agent's reply text may be, in the order tried (see the docs' "AgentCore Runtime")
TEXT_KEYS = ("result", "output", "response", "text", "content", "message", "completion", "answer")


def arn_problem(value: str) -> str | None:
    """Why `value` is not an AgentCore runtime ARN (saying what it looks like instead), or None."""
    if RUNTIME_ARN.match(value):
        return None
    if ":bedrock:" in value and ":agent/" in value:
        why = "it is a classic Bedrock agent's ARN: bind that one with agent_id and alias_id"
    elif "/runtime-endpoint/" in value:
        why = "it is a runtime endpoint's ARN: give the runtime's ARN and the endpoint's name as qualifier"
    elif not value.startswith("arn:"):
        why = "it is not an ARN (a runtime id alone names no account or region)"
    else:
        why = "it does not name an AgentCore runtime"
    return f"'{value}' is not an AgentCore runtime ARN: {why}; one looks like {ARN_EXAMPLE}"


@dataclass(frozen=True, slots=True)
class Runtime:
    """An AgentCore runtime a request runs on, and how the binding asks to call it."""

    arn: str
    qualifier: str | None
    payload: Any  # the binding's template (str or mapping), or None: {"prompt": …}
    user_id: str | None  # a template; None: no runtimeUserId
    stream: bool | None  # Accept: text/event-stream (True), application/json (False), either (None)
    model: str | None  # the model its agent runs on, to price the usage it reports
    fallback_model: str | None = None

    @property
    def runtime_id(self) -> str:
        match = RUNTIME_ARN.match(self.arn)
        return match.group("id") if match else self.arn.rsplit("/", 1)[-1]

    @property
    def region(self) -> str | None:
        match = RUNTIME_ARN.match(self.arn)
        return match.group("region") if match else None


def runtime_session_id(request: AgentRequest) -> str:
    """The runtime session of a run's step (and foreach item): the same on every attempt and after a
    resume; 34 to 100 characters of ``[a-zA-Z0-9-_]``, as both the request (33 at least) and the
    reply (100 at most) allow. A readable prefix, then a hash of podium's whole session id."""
    text = request.session_id
    readable = re.sub(r"[^a-zA-Z0-9_-]", "-", text).lstrip("-_") or "podium"
    return f"{readable[:67]}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def xray_trace_id(traceparent: str | None) -> str | None:
    """The W3C trace context as X-Ray's ``X-Amzn-Trace-Id`` (same trace id, parent and sampling)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace, parent, flags = parts[1], parts[2], parts[3]
    sampled = int(flags, 16) & 1 if re.fullmatch(r"[0-9a-f]{2}", flags) else 0
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={parent};Sampled={sampled}"


def _tag(value: str) -> str:
    return re.sub(r"[^\x21-\x7e]", "_", value)[:256]  # visible ASCII only: a header's value


def params(request: AgentRequest, target: Runtime, where: str) -> dict[str, Any]:
    """InvokeAgentRuntime's parameters for `request`."""
    if target.payload is None:
        body = json.dumps({"prompt": payloads.call_context(request)["prompt"]}, ensure_ascii=False).encode()
    else:
        body = payloads.render(target.payload, request, where=f"agents.{request.agent}.bedrock.payload")
    kwargs: dict[str, Any] = {
        "agentRuntimeArn": target.arn,
        "payload": body,
        "contentType": JSON_TYPE,
        "runtimeSessionId": runtime_session_id(request),
    }
    if target.stream is not None:
        kwargs["accept"] = EVENT_STREAM if target.stream else JSON_TYPE
    if target.qualifier:
        kwargs["qualifier"] = target.qualifier
    if target.user_id:
        from podium.providers._kit.payload import render_text

        user = render_text(target.user_id, request, where=f"agents.{request.agent}.bedrock.user_id")
        if user:
            kwargs["runtimeUserId"] = user[:1024]
    if request.traceparent:
        kwargs["traceParent"] = request.traceparent
        if (xray := xray_trace_id(request.traceparent)) is not None:
            kwargs["traceId"] = xray
    return kwargs


def tag_headers(request: AgentRequest) -> dict[str, str]:
    return {
        f"{TAG_HEADER}Run": _tag(request.run_id),
        f"{TAG_HEADER}Step": _tag(request.step),
        f"{TAG_HEADER}Agent": _tag(request.agent),
    }


def invoke_runtime(client: Any, request: AgentRequest, target: Runtime, call: SdkCall) -> AgentResponse:
    """One InvokeAgentRuntime call, its reply read whole (blocking: run it in the provider's threads)."""
    where = f"bedrock AgentCore runtime {target.runtime_id} (agent '{request.agent}')"
    kwargs = params(request, target, where)
    started = time.perf_counter()
    headers = {**current_headers(), **tag_headers(request)}
    if request.traceparent:
        headers[TRACEPARENT] = request.traceparent
    with sending(headers):
        reply = client.invoke_agent_runtime(**kwargs)
    body = call.register(reply["response"])
    content_type = str(reply.get("contentType") or "")
    read = RuntimeReply.from_stream(body, content_type) if EVENT_STREAM in content_type else None
    if read is None:
        read = RuntimeReply.from_body(body.read(), content_type)
    if read.error is not None:
        raise AgentFailed(
            f"{where} reported an error in its reply: {read.error}",
            fix="see the runtime's logs (CloudWatch, /aws/bedrock-agentcore/runtimes/"
            f"{target.runtime_id}-{target.qualifier or 'DEFAULT'})",
        )
    metadata = reply.get("ResponseMetadata") or {}
    session = str(reply.get("runtimeSessionId") or kwargs["runtimeSessionId"])
    native: dict[str, Any] = {
        "service": "agentcore",
        "runtime_arn": target.arn,
        "qualifier": target.qualifier or "DEFAULT",
        "session_id": session,
        "content_type": content_type,
        "events": read.events,
    }
    if read.usage is None:
        native["usage_unknown"] = True  # the agent reported none: unknown, never zero
    return AgentResponse(
        text=read.text,
        usage=read.usage or Usage(),
        model=read.model or target.model or request.model,
        latency_ms=(time.perf_counter() - started) * 1000,
        response_id=metadata.get("RequestId"),
        session_id=session,
        native=native,
    )


# --- the reply ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeReply:
    """What a runtime answered: its text, the usage it reported (None: none), the model it named,
    an error it reported in the reply (an SSE ``{"error": …}`` event), and how many events it sent."""

    text: str
    usage: Usage | None
    model: str | None = None
    error: str | None = None
    events: int = 1

    @classmethod
    def from_body(cls, data: bytes, content_type: str = JSON_TYPE) -> RuntimeReply:
        """A reply read as one body: JSON when it parses, else its text."""
        raw = data.decode("utf-8", errors="replace")
        try:
            value = json.loads(raw) if raw.strip() else ""
        except ValueError:
            return cls(raw, None)
        usage = usage_of(value) if isinstance(value, Mapping) else None
        model = _model_of(value)
        return cls(text_of(value), usage, model, _error_of(value))

    @classmethod
    def from_stream(cls, body: Any, content_type: str = EVENT_STREAM) -> RuntimeReply:
        """A ``text/event-stream`` reply: every event's ``data:``, in order (see `_gather`)."""
        return _gather(sse_events(_chunks(body)))


def _chunks(body: Any) -> Iterator[bytes]:
    iter_chunks = getattr(body, "iter_chunks", None)
    if iter_chunks is not None:
        yield from iter_chunks()
    else:  # pragma: no cover - botocore's StreamingBody has iter_chunks
        yield body.read()


def sse_events(chunks: Iterable[bytes]) -> Iterator[str]:
    """The ``data`` of each server-sent event in a byte stream (multi-line data joined by newlines).

    Written here rather than taken from an SSE client library: those read an httpx or requests
    response, and this is botocore's StreamingBody; the format's framing is a few rules.
    """
    buffer = b""
    data: list[str] = []
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = re.split(rb"\r\n|\r|\n", buffer)
        for line in lines:
            text = line.decode("utf-8", errors="replace")
            if not text:
                if data:
                    yield "\n".join(data)
                    data = []
            elif text.startswith("data:"):
                value = text[5:]
                data.append(value[1:] if value.startswith(" ") else value)
            # event:, id:, retry: and ":" comments carry nothing podium reads
    tail = buffer.decode("utf-8", errors="replace")
    if tail.startswith("data:"):
        data.append(tail[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


def _gather(events: Iterable[str]) -> RuntimeReply:
    """One reply from a stream's events.

    Text, from the first of these the stream has: Strands' text deltas (``{"data": "…"}``);
    Bedrock's own (``{"event": {"contentBlockDelta": {"delta": {"text": …}}}}``), which a Strands
    agent yielding every event sends beside the first kind, so they are not added twice; events
    that are a JSON string or plain text; else the last event with a reply (``{"result": …}`` and
    the like, read as a body is). Usage: the sum of Bedrock's per-model-call
    ``{"event": {"metadata": {"usage": …}}}``, else the last top-level ``{"usage": …}`` (a total).
    An ``{"error": …}`` event is the agent's own failure.
    """
    data_deltas: list[str] = []
    block_deltas: list[str] = []
    plain: list[str] = []
    final: str | None = None
    summed: Usage | None = None
    total: Usage | None = None
    model: str | None = None
    error: str | None = None
    count = 0
    for data in events:
        count += 1
        try:
            value = json.loads(data)
        except ValueError:
            plain.append(data)
            continue
        if isinstance(value, str):
            plain.append(value)
            continue
        if not isinstance(value, Mapping):
            final = text_of(value)
            continue
        if isinstance(value.get("data"), str):
            data_deltas.append(str(value["data"]))
            continue
        inner = value.get("event")
        if isinstance(inner, Mapping):
            block = inner.get("contentBlockDelta")
            delta = block.get("delta") if isinstance(block, Mapping) else None
            if isinstance(delta, Mapping) and isinstance(delta.get("text"), str):
                block_deltas.append(str(delta["text"]))
            meta = inner.get("metadata")
            if isinstance(meta, Mapping) and (used := usage_of(meta)) is not None:
                summed = used if summed is None else summed + used
            continue
        if (used := usage_of(value)) is not None:
            total = used
        model = _model_of(value) or model
        error = _error_of(value) or error
        if any(k in value for k in TEXT_KEYS):
            final = text_of(value)
    parts = data_deltas or block_deltas or plain
    text = "".join(parts) if parts else (final or "")
    return RuntimeReply(text, summed or total, model, error, count)


def text_of(value: Any) -> str:
    """The reply text in a JSON value: a string; the first of `TEXT_KEYS` an object has (its value
    read the same way); content blocks (``[{"text": …}]``) or a message (``{"role", "content"}``)
    joined. Anything else is sent on as JSON text, so a step's output schema can still read it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(b, Mapping) for b in value):
        texts = [b["text"] for b in value if isinstance(b.get("text"), str)]
        if texts:
            return "".join(texts)
    if isinstance(value, Mapping):
        for key in TEXT_KEYS:
            if key in value and value[key] is not None:
                return text_of(value[key])
    return json.dumps(value, ensure_ascii=False)


_USAGE_KEYS = {
    "input_tokens": ("inputTokens", "input_tokens", "prompt_tokens"),
    "output_tokens": ("outputTokens", "output_tokens", "completion_tokens"),
    "cache_read_tokens": ("cacheReadInputTokens", "cache_read_input_tokens", "cache_read_tokens"),
    "cache_write_tokens": ("cacheWriteInputTokens", "cache_creation_input_tokens", "cache_write_tokens"),
}


def usage_of(value: Mapping[str, Any]) -> Usage | None:
    """The ``usage`` object of a JSON object as podium's Usage (Bedrock's camelCase, Anthropic's and
    OpenAI's snake_case names); None when there is none or it counts no tokens."""
    usage = value.get("usage")
    if not isinstance(usage, Mapping):
        return None
    counts: dict[str, int] = {}
    for field, names in _USAGE_KEYS.items():
        for name in names:
            number = usage.get(name)
            if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
                counts[field] = number
                break
    if not counts.get("input_tokens") and not counts.get("output_tokens"):
        return None
    return Usage(**counts)


def _model_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key in ("model", "modelId", "model_id"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
    return None


def _error_of(value: Any) -> str | None:
    if isinstance(value, Mapping) and value.get("error") not in (None, "", False):
        error = value["error"]
        kind = value.get("error_type")
        text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False)
        return f"{kind}: {text}" if isinstance(kind, str) and kind else text
    return None
