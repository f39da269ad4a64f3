"""A model-only agent through google-genai ``generate_content`` on Vertex, with function calling.

The agent's instructions are the system instruction, its options the generation config, podium's
run/step/agent the request's labels. When the agent declares ``tools:``, each is a function
declaration (its parameters from the python signature); while the model answers with function
calls, podium runs them (the kit's tool loop) and sends the results back (``{"output": …}``, or
``{"error": …}`` for a tool error), at most ``max_tool_rounds`` times (the step's, else
``defaults.max_tool_rounds``). Usage is the sum of every round's ``usage_metadata``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import InvalidRequest, TransientError
from podium.providers._kit.signatures import description, parameters_schema
from podium.providers._kit.threads import SdkCall
from podium.providers._kit.tools import Toolbox
from podium.providers.vertex.binding import Model
from podium.providers.vertex.errors import PROVIDER
from podium.providers.vertex.tags import podium_labels

# a step's options: → GenerateContentConfig's fields (the rest must already be its own names)
_OPTIONS = {
    "max_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "maxOutputTokens": "max_output_tokens",
    "topP": "top_p",
    "topK": "top_k",
    "stopSequences": "stop_sequences",
}
_RESERVED = {"system_instruction", "labels", "tools", "http_options", "automatic_function_calling"}


def usage_of(metadata: Any) -> Usage | None:
    """Vertex's usage_metadata as podium's Usage: cached prompt tokens apart, thinking billed as output.

    input = prompt - cached (+ tool-use prompt), cache_read = cached, output = candidates + thoughts.
    None when the reply has no usage_metadata at all.
    """
    if metadata is None:
        return None

    def count(name: str) -> int:
        value = metadata.get(name) if isinstance(metadata, Mapping) else getattr(metadata, name, None)
        return int(value or 0)

    prompt, cached = count("prompt_token_count"), count("cached_content_token_count")
    return Usage(
        input_tokens=max(0, prompt - cached) + count("tool_use_prompt_token_count"),
        cache_read_tokens=cached,
        output_tokens=count("candidates_token_count") + count("thoughts_token_count"),
    )


def _config(request: AgentRequest, types: Any) -> Any:
    fields: dict[str, Any] = {"labels": podium_labels(request)}
    if request.instructions:
        fields["system_instruction"] = request.instructions
    known = types.GenerateContentConfig.model_fields
    for key, value in request.options.items():
        name = _OPTIONS.get(key, key)
        if name == "stop_sequences" and isinstance(value, str):
            value = [value]
        if name not in known or name in _RESERVED:
            raise InvalidRequest(
                f"agent '{request.agent}': option '{key}' is not a Gemini generation setting",
                fix="use max_tokens, temperature, top_p, top_k, stop, seed, or another field of"
                " google-genai's GenerateContentConfig (snake_case)",
                provider=PROVIDER,
            )
        fields[name] = value
    return fields


def _declarations(request: AgentRequest, toolbox: Toolbox) -> list[dict[str, Any]]:
    """Each declared tool as a Gemini function declaration."""
    declared = []
    for name in request.tools:
        tool = toolbox.find(request, name)
        assert tool is not None
        declared.append(
            {
                "name": name,
                "description": description(tool.fn, f"the {name} tool"),
                "parameters_json_schema": parameters_schema(tool.fn),
            }
        )
    return declared


def generate(
    client: Any,
    request: AgentRequest,
    target: Model,
    call: SdkCall,
    toolbox: Toolbox,
    *,
    max_rounds: int | None = None,
) -> AgentResponse:
    """One step on a Gemini model (blocking: run it in the provider's threads).

    `max_rounds` (``providers.vertex.max_tool_rounds``, when set) overrides the step's limit.
    """
    from google.genai import types

    fields = _config(request, types)
    if request.tools:
        fields["tools"] = [{"function_declarations": _declarations(request, toolbox)}]
    config = types.GenerateContentConfig(**fields)
    contents: list[Any] = [
        types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)])
        for m in request.messages
    ]
    started = time.perf_counter()
    usage = Usage(requests=0)
    unknown = False
    tool_calls: list[dict[str, Any]] = []
    reply: Any = None
    if max_rounds is not None:
        request = request.model_copy(update={"max_tool_rounds": max_rounds})
    where = f"vertex model {target.model_id} (agent '{request.agent}')"
    tools = toolbox.loop(request, loop=call.loop, where=where)
    rounds = 0
    while True:
        rounds += 1
        reply = client.models.generate_content(model=target.model_id, contents=contents, config=config)
        used = usage_of(reply.usage_metadata)
        unknown = unknown or used is None
        usage = usage + (used or Usage())
        content = _content(reply, request, target)
        calls = [p.function_call for p in content.parts or [] if p.function_call is not None]
        if not calls:
            break
        tools.round(usage.model_copy(update={"requests": rounds}))
        contents.append(content)
        results = []
        for asked in calls:
            done = tools.run(str(asked.name), dict(asked.args or {}))
            tool_calls.append(done.record(id=asked.id) if asked.id else done.record())
            # Gemini's convention: "output" for a result, "error" for a failure the model should read
            response = {"error": done.result.get("error")} if done.error else {"output": done.result}
            results.append(types.Part.from_function_response(name=str(asked.name), response=response))
        contents.append(types.Content(role="user", parts=results))
    content = _content(reply, request, target)
    text = "".join(p.text for p in content.parts or [] if p.text is not None and not p.thought)
    native: dict[str, Any] = {
        "model_id": target.model_id,
        "model_version": reply.model_version,
        "finish_reason": _name(reply.candidates[0].finish_reason),
        "usage_metadata": reply.usage_metadata.model_dump(mode="json", exclude_none=True)
        if reply.usage_metadata is not None
        else None,
    }
    if tool_calls:
        native["tool_calls"] = tool_calls
    if unknown:
        native["usage_unknown"] = True
    return AgentResponse(
        text=text,
        usage=usage,
        model=target.model_id,
        latency_ms=(time.perf_counter() - started) * 1000,
        response_id=reply.response_id,
        native=native,
    )


def _content(reply: Any, request: AgentRequest, target: Model) -> Any:
    """The first candidate's content; a blocked prompt or an empty reply is an error that says so."""
    where = f"vertex generateContent {target.model_id} (agent '{request.agent}')"
    feedback = reply.prompt_feedback
    if not reply.candidates:
        if feedback is not None and feedback.block_reason is not None:
            raise InvalidRequest(
                f"{where}: the prompt was blocked ({_name(feedback.block_reason)}:"
                f" {feedback.block_reason_message or 'no message'})",
                fix="rephrase the step's prompt, or adjust the model's safety settings",
                provider=PROVIDER,
            )
        raise TransientError(f"{where} sent a reply with no candidates", provider=PROVIDER)
    candidate = reply.candidates[0]
    if candidate.content is None or not candidate.content.parts:
        reason = _name(candidate.finish_reason)
        if reason in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"):
            raise InvalidRequest(
                f"{where}: the reply was withheld ({reason})",
                fix="rephrase the step's prompt",
                provider=PROVIDER,
            )
        raise TransientError(f"{where} sent an empty reply (finish reason {reason})", provider=PROVIDER)
    return candidate.content


def _name(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))
