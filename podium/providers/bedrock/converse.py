"""A model-only agent through ``bedrock-runtime`` Converse: messages and options out, text and usage back.

When the agent declares ``tools:``, each is a ``toolSpec`` in ``toolConfig`` (its input schema read
from the python signature, its description from the docstring). While the model stops with
``tool_use``, podium runs each ``toolUse`` block's tool (the kit's tool loop) and sends the results
back as ``toolResult`` blocks (``status: error`` for a tool error), at most ``max_tool_rounds``
times. Usage is the sum of every round's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import TransientError
from podium.providers._kit.signatures import description, parameters_schema
from podium.providers._kit.threads import SdkCall
from podium.providers._kit.tools import Toolbox, ToolCall
from podium.providers.bedrock.binding import Model
from podium.providers.bedrock.errors import PROVIDER
from podium.providers.bedrock.native import jsonable, podium_tags

if TYPE_CHECKING:
    from podium.providers.bedrock.transport import AsyncBedrock

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


def tool_config(request: AgentRequest, toolbox: Toolbox) -> dict[str, Any]:
    """The agent's declared tools as Converse's ``toolConfig``."""
    specs = []
    for name in request.tools:
        tool = toolbox.find(request, name)
        assert tool is not None  # find loads every declared name, or raises
        specs.append(
            {
                "toolSpec": {
                    "name": name,
                    "description": description(tool.fn, f"the {name} tool"),
                    "inputSchema": {"json": parameters_schema(tool.fn)},
                }
            }
        )
    return {"tools": specs}


def _tool_result(tool_use_id: str, done: ToolCall) -> dict[str, Any]:
    content = {"json": done.result} if isinstance(done.result, dict) else {"text": done.text}
    return {
        "toolResult": {
            "toolUseId": tool_use_id,
            "content": [content],
            "status": "error" if done.error else "success",
        }
    }


def _usage(reply: Mapping[str, Any]) -> Usage:
    usage = reply.get("usage") or {}
    return Usage(
        input_tokens=int(usage.get("inputTokens") or 0),
        output_tokens=int(usage.get("outputTokens") or 0),
        cache_read_tokens=int(usage.get("cacheReadInputTokens") or 0),
        cache_write_tokens=int(usage.get("cacheWriteInputTokens") or 0),
    )


def converse(
    client: Any,
    request: AgentRequest,
    target: Model,
    call: SdkCall | None = None,
    toolbox: Toolbox | None = None,
) -> AgentResponse:
    """One step on a Converse model, with its tool rounds (blocking: run it in the provider's threads)."""
    kwargs = converse_kwargs(request, target)
    where = f"bedrock Converse {target.model_id} (agent '{request.agent}')"
    tools = None
    if request.tools and toolbox is not None:
        kwargs["toolConfig"] = tool_config(request, toolbox)
        tools = toolbox.loop(request, loop=call.loop if call else None, where=where)
    started = time.perf_counter()
    usage = Usage(requests=0)
    tool_calls: list[dict[str, Any]] = []
    rounds = 0
    while True:
        rounds += 1
        reply = client.converse(**kwargs)
        message = _message(reply, where)
        usage = usage + _usage(reply)
        uses = [b["toolUse"] for b in message.get("content") or [] if "toolUse" in b]
        if reply.get("stopReason") != "tool_use" or not uses or tools is None:
            break
        tools.round(usage.model_copy(update={"requests": rounds}))
        results = []
        for use in uses:
            done = tools.run(str(use.get("name")), dict(use.get("input") or {}))
            tool_calls.append(done.record(id=use.get("toolUseId")))
            results.append(_tool_result(str(use.get("toolUseId")), done))
        kwargs["messages"] = [*kwargs["messages"], dict(message), {"role": "user", "content": results}]
    return _response(target, reply, message, usage, rounds, tool_calls, started)


async def aconverse(
    http: AsyncBedrock, request: AgentRequest, target: Model, headers: dict[str, str]
) -> AgentResponse:
    """`converse` for an agent without tools, on the event loop (`AsyncBedrock`): same request, same reply."""
    where = f"bedrock Converse {target.model_id} (agent '{request.agent}')"
    started = time.perf_counter()
    reply = await http.call("bedrock-runtime", "Converse", converse_kwargs(request, target), headers)
    message = _message(reply, where)
    return _response(target, reply, message, _usage(reply), 1, [], started)


def _message(reply: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    message = (reply.get("output") or {}).get("message")
    if not isinstance(message, Mapping) or not isinstance(reply.get("usage"), Mapping):
        raise TransientError(
            f"{where} sent an incomplete reply (no output message or usage)", provider=PROVIDER
        )
    return message


def _response(
    target: Model,
    reply: Mapping[str, Any],
    message: Mapping[str, Any],
    usage: Usage,
    rounds: int,
    tool_calls: list[dict[str, Any]],
    started: float,
) -> AgentResponse:
    latency = (time.perf_counter() - started) * 1000
    text = "".join(str(b["text"]) for b in message.get("content") or [] if "text" in b)
    native: dict[str, Any] = {
        "model_id": target.model_id,
        "stop_reason": reply.get("stopReason"),
        "metrics": reply.get("metrics") or {},
    }
    if tool_calls:
        native["tool_calls"] = tool_calls
    return AgentResponse(
        text=text,
        usage=usage.model_copy(update={"requests": rounds}),
        model=target.model_id,
        latency_ms=latency,
        response_id=reply.get("ResponseMetadata", {}).get("RequestId"),
        native=jsonable(native),
    )
