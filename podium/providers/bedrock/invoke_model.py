"""InvokeModel's native bodies: the request each model family takes, and the reply (whole or streamed).

InvokeModel passes a model's own JSON through: Anthropic's messages API (``anthropic_version``,
``max_tokens``, ``messages``, ``system``, ``tools``), Amazon Titan Text (``inputText``,
``textGenerationConfig``), Amazon Nova (``schemaVersion: messages-v1``, ``messages``,
``inferenceConfig``), Meta Llama and Mistral (``prompt``). `parse` turns one into podium's messages
(or says why the service would refuse it, in the service's words); `reply` and `stream_chunks` make
the model's own answer, with usage where each family puts it, and the
``amazon-bedrock-invocationMetrics`` Bedrock adds to a stream's last chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podium.core.calls import Message, Usage
from podium.providers._kit.emulator import new_id

if TYPE_CHECKING:
    from podium.core.spec import MockTool

MALFORMED = "Malformed input request: {}, please reformat your input and try again."


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A native body as podium's question: the conversation, the system prompt, the output limit."""

    messages: tuple[Message, ...]
    instructions: str | None
    max_tokens: int | None
    tools: dict[str, Any] = field(default_factory=dict)  # name -> input schema (Anthropic's tools)


def _missing(key: str) -> str:
    return MALFORMED.format(f"#: required key [{key}] not found")


def _text_of(content: Any) -> str:
    """The text of an Anthropic or Nova content value: a string, or blocks of text/tool results."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            parts.append(str(block["text"]))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content")))
    return "\n".join(parts)


def _conversation(raw: Any, where: str) -> tuple[str | None, tuple[Message, ...]]:
    if not isinstance(raw, list) or not raw:
        return _missing(where) if raw is None else MALFORMED.format(
            f"#/{where}: expected minimum item count: 1"
        ), ()
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            return MALFORMED.format(f"#/{where}/{index}/role: must be user or assistant"), ()
        out.append(Message(role=item["role"], content=_text_of(item.get("content"))))
    if out[-1].role != "user":
        return "The last message in the conversation must be from the user.", ()
    return None, tuple(out)


def parse(kind: str, body: dict[str, Any]) -> tuple[str | None, ModelRequest | None]:
    """The question a native body asks, or the ValidationException message the service would send."""
    if kind == "anthropic":
        for key in ("anthropic_version", "max_tokens", "messages"):
            if key not in body:
                return _missing(key), None
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            return MALFORMED.format("#/max_tokens: expected type: Integer of at least 1"), None
        problem, messages = _conversation(body["messages"], "messages")
        if problem:
            return problem, None
        system = body.get("system")
        tools = {
            str(t.get("name")): t.get("input_schema") or {}
            for t in body.get("tools") or []
            if isinstance(t, dict) and t.get("name")
        }
        return None, ModelRequest(messages, _text_of(system) or None, body["max_tokens"], tools)
    if kind == "titan":
        text = body.get("inputText")
        if not isinstance(text, str):
            return _missing("inputText"), None
        config = body.get("textGenerationConfig") or {}
        limit = config.get("maxTokenCount") if isinstance(config, dict) else None
        return None, ModelRequest((Message(role="user", content=text),), None, limit)
    if kind == "nova":
        problem, messages = _conversation(body.get("messages"), "messages")
        if problem:
            return problem, None
        config = body.get("inferenceConfig") or {}
        limit = (
            (config.get("maxTokens") or config.get("max_new_tokens")) if isinstance(config, dict) else None
        )
        system = "\n".join(str(b.get("text", "")) for b in body.get("system") or [] if isinstance(b, dict))
        return None, ModelRequest(messages, system or None, limit)
    # llama, mistral: one prompt
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        return _missing("prompt"), None
    limit = body.get("max_gen_len") or body.get("max_tokens")
    return None, ModelRequest((Message(role="user", content=prompt),), None, limit)


def _tool_input(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def reply(
    kind: str, model: str, text: str, usage: Usage, stop: str, tool: MockTool | None = None
) -> dict[str, Any]:
    """The model's own whole reply (InvokeModel's body), usage where the family puts it."""
    if kind == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if tool is not None:
            content = [{"type": "tool_use", "id": f"toolu_bdrk_{new_id().hex[:24]}", "name": tool.name,
                        "input": tool.input}]  # fmt: skip
        return {
            "id": f"msg_bdrk_{new_id().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model.removeprefix("anthropic.").rsplit("-v", 1)[0],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        }
    if kind == "titan":
        return {
            "inputTextTokenCount": usage.input_tokens,
            "results": [
                {
                    "tokenCount": usage.output_tokens,
                    "outputText": text,
                    "completionReason": "LENGTH" if stop == "max_tokens" else "FINISH",
                }
            ],
        }
    if kind == "nova":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop,
            "usage": {
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_tokens,
                "cacheReadInputTokenCount": usage.cache_read_tokens,
                "cacheWriteInputTokenCount": usage.cache_write_tokens,
            },
        }
    finished = "length" if stop == "max_tokens" else "stop"
    if kind == "llama":
        return {
            "generation": text,
            "prompt_token_count": usage.input_tokens,
            "generation_token_count": usage.output_tokens,
            "stop_reason": finished,
        }
    return {"outputs": [{"text": text, "stop_reason": finished}]}


def _pieces(text: str, size: int = 24) -> list[str]:
    """The text in a few deltas, as a model streams it (at least one, even when empty)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def metrics(usage: Usage, latency_ms: int) -> dict[str, int]:
    return {
        "inputTokenCount": usage.input_tokens,
        "outputTokenCount": usage.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": latency_ms,
    }


def stream_chunks(
    kind: str, model: str, text: str, usage: Usage, stop: str, latency_ms: int, tool: MockTool | None = None
) -> list[dict[str, Any]]:
    """The model's own stream events (each a chunk's decoded bytes); the last carries Bedrock's metrics."""
    done = {"amazon-bedrock-invocationMetrics": metrics(usage, latency_ms)}
    if kind == "anthropic":
        whole = reply(kind, model, text, usage, stop, tool)
        start = {**whole, "content": [], "stop_reason": None, "usage": {**whole["usage"], "output_tokens": 0}}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        if tool is not None:
            block = whole["content"][0]
            events.append(
                {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}
            )
            events.append(
                {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "input_json_delta", "partial_json": json.dumps(tool.input)}}
            )  # fmt: skip
        else:
            events.append(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            )
            events += [
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
                for piece in _pieces(text)
            ]
        events.append({"type": "content_block_stop", "index": 0})
        events.append(
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
             "usage": {"output_tokens": usage.output_tokens}}
        )  # fmt: skip
        events.append({"type": "message_stop", **done})
        return events
    if kind == "titan":
        pieces = _pieces(text)
        out = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            event: dict[str, Any] = {
                "outputText": piece,
                "index": 0,
                "totalOutputTextTokenCount": usage.output_tokens if last else None,
                "completionReason": ("LENGTH" if stop == "max_tokens" else "FINISH") if last else None,
                "inputTextTokenCount": usage.input_tokens if index == 0 else None,
            }
            out.append({**event, **done} if last else event)
        return out
    if kind == "nova":
        return [
            {"messageStart": {"role": "assistant"}},
            *(
                {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}
                for piece in _pieces(text)
            ),
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": stop}},
            {
                "metadata": {
                    "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens},
                    "metrics": {},
                    "trace": {},
                },
                **done,
            },
        ]
    finished = "length" if stop == "max_tokens" else "stop"
    pieces = _pieces(text)
    out = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if kind == "llama":
            event = {
                "generation": piece,
                "prompt_token_count": usage.input_tokens if index == 0 else None,
                "generation_token_count": usage.output_tokens if last else index + 1,
                "stop_reason": finished if last else None,
            }
        else:
            event = {"outputs": [{"text": piece, "stop_reason": finished if last else None}]}
        out.append({**event, **done} if last else event)
    return out


def usage_headers(usage: Usage, latency_ms: int) -> dict[str, str]:
    """The usage headers InvokeModel answers with (the body's counts, for any model family)."""
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(usage.input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(usage.output_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
    }
