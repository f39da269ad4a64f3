"""A managed agent through ``bedrock-agent-runtime`` InvokeAgent, with return control for its tools.

The reply is an event stream: text chunks, traces (where the usage is), files, and returnControl —
the agent asking its caller to run a function. Then podium runs the tool the agent declares (the
kit's tool loop) and invokes the agent again, on the same session, with the result, until the agent
answers (at most the step's ``max_tool_rounds`` rounds). Only the translation between returnControl
and ``(name, args)`` is Bedrock's own; running the tool is the kit's. A tool error (arguments that
do not match, a call a person rejected) goes back with ``responseState: REPROMPT``, so that the
model reads why and carries on (``FAILURE`` would end the session with a dependency error).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import InvalidRequest
from podium.providers._kit.threads import SdkCall
from podium.providers._kit.tools import Toolbox, ToolLoop
from podium.providers.bedrock.binding import ManagedAgent
from podium.providers.bedrock.errors import PROVIDER
from podium.providers.bedrock.native import jsonable, podium_tags

_SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")


def session_id_for(text: str) -> str:
    """A Bedrock session id (2-100 of [0-9a-zA-Z._:-]) for podium's, the same every time.

    podium's own ids (``run-id-step[-item]``) fit as they are; anything else keeps a readable prefix
    and a hash of the whole, so distinct ids stay distinct.
    """
    if _SESSION_ID.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    prefix = re.sub(r"[^0-9a-zA-Z._:-]", "_", text)[:83]
    return f"{prefix}-{digest}"


def _trace_usage(part: Mapping[str, Any]) -> tuple[int, int, str | None]:
    """Tokens of the model invocations in one trace part, and the model it names, if any."""
    input_tokens = output_tokens = 0
    model = None
    for body in (part.get("trace") or {}).values():
        if not isinstance(body, Mapping):
            continue
        invocation = body.get("modelInvocationOutput")
        if isinstance(invocation, Mapping):
            usage = (invocation.get("metadata") or {}).get("usage") or {}
            input_tokens += int(usage.get("inputTokens") or 0)
            output_tokens += int(usage.get("outputTokens") or 0)
        model_input = body.get("modelInvocationInput")
        if isinstance(model_input, Mapping) and model_input.get("foundationModel"):
            model = str(model_input["foundationModel"])
    return input_tokens, output_tokens, model


def _parameter_value(parameter: Mapping[str, Any]) -> Any:
    """A returned-control parameter's value (always text on the wire) as its declared type, if it parses."""
    value = parameter.get("value")
    kind = str(parameter.get("type") or "string").lower()
    if not isinstance(value, str) or kind == "string":
        return value
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.strip().lower()]
        if kind == "array":
            return json.loads(value)
    except (ValueError, KeyError):
        pass
    return value


def invoke_agent(
    client: Any, request: AgentRequest, target: ManagedAgent, call: SdkCall, toolbox: Toolbox
) -> AgentResponse:
    """InvokeAgent, and again with each tool's result while the agent returns control (at most the
    step's ``max_tool_rounds`` rounds); usage, traces and tool calls are gathered over all rounds."""
    session_id = session_id_for(request.session_id)
    started = time.perf_counter()
    tags = podium_tags(request)
    kwargs: dict[str, Any] = {
        "inputText": request.messages[-1].content,
        "sessionState": {"sessionAttributes": tags},
    }
    parts: list[str] = []
    traces: list[dict[str, Any]] = []
    citations: list[Any] = []
    controls: list[Any] = []
    files: list[Any] = []
    tool_calls: list[dict[str, Any]] = []
    input_tokens = output_tokens = rounds = 0
    model: str | None = None
    reply: dict[str, Any] = {}
    where = f"bedrock agent {target.agent_id} (agent '{request.agent}')"
    tools = toolbox.loop(request, loop=call.loop, where=where)
    while True:
        rounds += 1
        reply = client.invoke_agent(
            agentId=target.agent_id,
            agentAliasId=target.alias_id,
            sessionId=session_id,
            enableTrace=True,
            **kwargs,
        )
        returned: list[dict[str, Any]] = []
        for event in call.register(reply["completion"]):
            if "chunk" in event:
                chunk = event["chunk"]
                parts.append(bytes(chunk.get("bytes") or b"").decode("utf-8", errors="replace"))
                citations.extend((chunk.get("attribution") or {}).get("citations") or [])
            elif "trace" in event:
                part = event["trace"]
                traces.append(jsonable(part))
                more_in, more_out, named = _trace_usage(part)
                input_tokens += more_in
                output_tokens += more_out
                model = model or named
            elif "returnControl" in event:
                returned.append(jsonable(event["returnControl"]))
            elif "files" in event:
                files.extend(jsonable((event["files"] or {}).get("files") or []))
        controls.extend(returned)
        if parts or not returned:
            break
        tools.round(Usage(input_tokens=input_tokens, output_tokens=output_tokens, requests=rounds))
        control = returned[-1]
        results = [
            _run_tool(request, target, item, tool_calls, tools)
            for item in control.get("invocationInputs") or []
        ]
        kwargs = {
            "sessionState": {
                "sessionAttributes": tags,
                "invocationId": control.get("invocationId"),
                "returnControlInvocationResults": results,
            }
        }
    latency = (time.perf_counter() - started) * 1000
    native: dict[str, Any] = {
        "agent_id": target.agent_id,
        "alias_id": target.alias_id,
        "session_id": reply.get("sessionId") or session_id,
        "bound_by": target.source,
        "trace": traces,
    }
    for key, values in (
        ("citations", citations),
        ("return_control", controls),
        ("files", files),
        ("tool_calls", tool_calls),
    ):
        if values:
            native[key] = jsonable(values)
    return AgentResponse(
        text="".join(parts),
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, requests=rounds),
        model=model or request.model,
        latency_ms=latency,
        response_id=reply.get("ResponseMetadata", {}).get("RequestId"),
        session_id=native["session_id"],
        native=native,
    )


def _run_tool(
    request: AgentRequest,
    target: ManagedAgent,
    item: Mapping[str, Any],
    tool_calls: list[dict[str, Any]],
    tools: ToolLoop,
) -> dict[str, Any]:
    """A returned-control invocation run by the kit as ``(name, args)``; its result in InvokeAgent's shape."""
    invocation = item.get("functionInvocationInput")
    if not isinstance(invocation, Mapping):
        api = item.get("apiInvocationInput") or {}
        raise InvalidRequest(
            f"bedrock agent {target.agent_id} (agent '{request.agent}') returned control for the API"
            f" {api.get('httpMethod')} {api.get('apiPath')} of action group '{api.get('actionGroup')}';"
            " podium runs only function-defined action groups",
            fix="define the action group with functions (functionSchema) instead of an OpenAPI schema,"
            " or give it a Lambda executor",
            provider=PROVIDER,
        )
    group = str(invocation.get("actionGroup") or "")
    function = str(invocation.get("function") or "")
    tool = tools.toolbox.find(request, function, f"{group}.{function}")
    if tool is None:
        raise InvalidRequest(
            f"bedrock agent {target.agent_id} (agent '{request.agent}') returned control to call"
            f" '{function}' (action group '{group}'), which agents.{request.agent}.tools"
            " does not declare",
            fix=f"declare it under the agent's tools: (tools: {{{function}: module:function}}),"
            " or give the action group a Lambda executor",
            provider=PROVIDER,
        )
    arguments = {
        str(p.get("name")): _parameter_value(p) for p in invocation.get("parameters") or [] if p.get("name")
    }
    done = tools.call(tool, arguments, label=function)
    tool_calls.append(done.record(action_group=group))
    result: dict[str, Any] = {
        "actionGroup": group,
        "function": function,
        "responseBody": {"TEXT": {"body": done.text}},
    }
    if done.error:  # REPROMPT: the model sees why (the body) and carries on; FAILURE would end the session
        result["responseState"] = "REPROMPT"
    return {"functionResult": result}
