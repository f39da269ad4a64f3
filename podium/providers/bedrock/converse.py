"""A model-only agent through ``bedrock-runtime`` Converse: messages and options out, text and usage back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import TransientError
from podium.providers.bedrock.binding import Model
from podium.providers.bedrock.errors import PROVIDER
from podium.providers.bedrock.native import jsonable, podium_tags

_INFERENCE = {
    "max_tokens": "maxTokens",
    "maxTokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "topP": "topP",
    "stop": "stopSequences",
    "stop_sequences": "stopSequences",
    "stopSequences": "stopSequences",
}


def converse_kwargs(request: AgentRequest, target: Model) -> dict[str, Any]:
    """Converse's arguments: the conversation, the instructions as system prompt, options split by kind.

    Options Converse knows (``max_tokens``, ``temperature``, …) go to ``inferenceConfig``; the rest
    to ``additionalModelRequestFields``, for the model itself.
    """
    kwargs: dict[str, Any] = {
        "modelId": target.model_id,
        "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in request.messages],
        "requestMetadata": podium_tags(request),
    }
    if request.instructions:
        kwargs["system"] = [{"text": request.instructions}]
    inference: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in request.options.items():
        name = _INFERENCE.get(key)
        if name == "stopSequences" and isinstance(value, str):
            value = [value]
        if name:
            inference[name] = value
        else:
            extra[key] = value
    if inference:
        kwargs["inferenceConfig"] = inference
    if extra:
        kwargs["additionalModelRequestFields"] = extra
    return kwargs


def converse(client: Any, request: AgentRequest, target: Model) -> AgentResponse:
    """One Converse call (blocking: run it in the provider's threads)."""
    started = time.perf_counter()
    reply = client.converse(**converse_kwargs(request, target))
    latency = (time.perf_counter() - started) * 1000
    message = (reply.get("output") or {}).get("message")
    usage = reply.get("usage")
    if not isinstance(message, Mapping) or not isinstance(usage, Mapping):
        raise TransientError(
            f"bedrock Converse {target.model_id} (agent '{request.agent}') sent an incomplete reply"
            " (no output message or usage)",
            provider=PROVIDER,
        )
    text = "".join(str(b["text"]) for b in message.get("content") or [] if "text" in b)
    return AgentResponse(
        text=text,
        usage=Usage(
            input_tokens=int(usage.get("inputTokens") or 0),
            output_tokens=int(usage.get("outputTokens") or 0),
            cache_read_tokens=int(usage.get("cacheReadInputTokens") or 0),
            cache_write_tokens=int(usage.get("cacheWriteInputTokens") or 0),
        ),
        model=target.model_id,
        latency_ms=latency,
        response_id=reply.get("ResponseMetadata", {}).get("RequestId"),
        native=jsonable(
            {
                "model_id": target.model_id,
                "stop_reason": reply.get("stopReason"),
                "metrics": reply.get("metrics") or {},
            }
        ),
    )
