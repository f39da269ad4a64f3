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
from typing import TYPE_CHECKING, Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import InvalidRequest
from podium.providers._kit.threads import SdkCall
from podium.providers._kit.tools import Toolbox, ToolLoop
from podium.providers.bedrock.binding import ManagedAgent
from podium.providers.bedrock.errors import PROVIDER
from podium.providers.bedrock.native import jsonable, podium_tags

if TYPE_CHECKING:
    from podium.providers.bedrock.transport import AsyncBedrock

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


class _Reply:
    """What the rounds of one InvokeAgent call sent back so far: text, traces, usage, tool calls."""

    def __init__(self, request: AgentRequest, target: ManagedAgent) -> None:
        self.request = request
        self.target = target
        self.session_id = session_id_for(request.session_id)
        self.tags = podium_tags(request)
        self.started = time.perf_counter()
        self.parts: list[str] = []
        self.traces: list[dict[str, Any]] = []
        self.citations: list[Any] = []
        self.controls: list[Any] = []
        self.files: list[Any] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.input_tokens = self.output_tokens = self.rounds = 0
        self.model: str | None = None
        self.reply: dict[str, Any] = {}
        self.where = f"bedrock agent {target.agent_id} (agent '{request.agent}')"

    def params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """InvokeAgent's parameters for the next round (`kwargs`: its input or its tools' results)."""
        self.rounds += 1
        return {
            "agentId": self.target.agent_id,
            "agentAliasId": self.target.alias_id,
            "sessionId": self.session_id,
            "enableTrace": True,
            **kwargs,
        }

    def first(self) -> dict[str, Any]:
        return {
            "inputText": self.request.messages[-1].content,
            "sessionState": {"sessionAttributes": self.tags},
        }

    def read(self, reply: dict[str, Any], events: Any) -> list[dict[str, Any]]:
        """One round's reply and its event stream taken in; the controls it returned (its tool requests)."""
        self.reply = reply
        returned: list[dict[str, Any]] = []
        for event in events:
            if "chunk" in event:
                chunk = event["chunk"]
                self.parts.append(bytes(chunk.get("bytes") or b"").decode("utf-8", errors="replace"))
                self.citations.extend((chunk.get("attribution") or {}).get("citations") or [])
            elif "trace" in event:
                part = event["trace"]
                self.traces.append(jsonable(part))
                more_in, more_out, named = _trace_usage(part)
                self.input_tokens += more_in
                self.output_tokens += more_out
                self.model = self.model or named
            elif "returnControl" in event:
                returned.append(jsonable(event["returnControl"]))
            elif "files" in event:
                self.files.extend(jsonable((event["files"] or {}).get("files") or []))
        self.controls.extend(returned)
        return returned

    def usage(self) -> Usage:
        return Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens, requests=self.rounds)

    def results(self, control: Mapping[str, Any], tools: ToolLoop) -> dict[str, Any]:
        """The next round's parameters: the results of the tools `control` asked for (run by the kit)."""
        tools.round(self.usage())
        results = [
            _run_tool(self.request, self.target, item, self.tool_calls, tools)
            for item in control.get("invocationInputs") or []
        ]
        return {
            "sessionState": {
                "sessionAttributes": self.tags,
                "invocationId": control.get("invocationId"),
                "returnControlInvocationResults": results,
            }
        }

    def response(self) -> AgentResponse:
        latency = (time.perf_counter() - self.started) * 1000
        target = self.target
        native: dict[str, Any] = {
            "agent_id": target.agent_id,
            "alias_id": target.alias_id,
            "session_id": self.reply.get("sessionId") or self.session_id,
            "bound_by": target.source,
            "trace": self.traces,
        }
        for key, values in (
            ("citations", self.citations),
            ("return_control", self.controls),
            ("files", self.files),
            ("tool_calls", self.tool_calls),
        ):
            if values:
                native[key] = jsonable(values)
        return AgentResponse(
            text="".join(self.parts),
            usage=self.usage(),
            model=self.model or self.request.model,
            latency_ms=latency,
            response_id=self.reply.get("ResponseMetadata", {}).get("RequestId"),
            session_id=native["session_id"],
            native=native,
        )


def invoke_agent(
    client: Any, request: AgentRequest, target: ManagedAgent, call: SdkCall, toolbox: Toolbox
) -> AgentResponse:
    """InvokeAgent, and again with each tool's result while the agent returns control (at most the
    step's ``max_tool_rounds`` rounds); usage, traces and tool calls are gathered over all rounds."""
    gathered = _Reply(request, target)
    tools = toolbox.loop(request, loop=call.loop, where=gathered.where)
    kwargs = gathered.first()
    while True:
        reply = client.invoke_agent(**gathered.params(kwargs))
        returned = gathered.read(reply, call.register(reply["completion"]))
        if gathered.parts or not returned:
            break
        kwargs = gathered.results(returned[-1], tools)
    return gathered.response()


async def ainvoke_agent(
    http: AsyncBedrock, request: AgentRequest, target: ManagedAgent, toolbox: Toolbox, headers: dict[str, str]
) -> AgentResponse:
    """`invoke_agent` on the event loop (`transport.AsyncBedrock`), for an agent without tools: the same
    rounds, its event stream parsed by botocore as boto3 parses it. A control the agent returns can
    only ask for a tool the agent does not declare: the same InvalidRequest as on boto3's path."""
    gathered = _Reply(request, target)
    tools = toolbox.loop(request, loop=None, where=gathered.where)
    kwargs = gathered.first()
    while True:
        reply = await http.call("bedrock-agent-runtime", "InvokeAgent", gathered.params(kwargs), headers)
        returned = gathered.read(reply, reply["completion"])
        if gathered.parts or not returned:
            break
        kwargs = gathered.results(returned[-1], tools)
    return gathered.response()


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
