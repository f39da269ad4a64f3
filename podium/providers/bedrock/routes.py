"""The emulator's routes: InvokeAgent and Converse answered by the brain, the control plane by moto.

The three Bedrock services share no method and path (but the tag calls, which mean the same in
each), so one port serves ``bedrock-agent-runtime``, ``bedrock-runtime`` and ``bedrock-agent``.
Serving, faults and the request log are the `CloudEmulator` base's; this module is Bedrock's own
operations and how its errors look.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from podium.core.calls import Message
from podium.core.errors import StepError
from podium.providers._kit.brains import Turn
from podium.providers._kit.emulator import CloudEmulator, Route, new_id
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers.bedrock import wire
from podium.providers.bedrock.state import BedrockState, MotoMissing

INVOKE_AGENT = re.compile(r"^/agents/([^/]+)/agentAliases/([^/]+)/sessions/([^/]+)/text$")
CONVERSE = re.compile(r"^/model/([^/]+)/converse$")
STS = re.compile(r"^/$")  # STS's query protocol: every action is a form POST to the root
OTHER_RUNTIME = re.compile(r"^/model/([^/]+)/(converse-stream|invoke|invoke-with-response-stream)$")

ID = re.compile(r"^[0-9a-zA-Z]{1,10}$")
SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# a foundation model id (anthropic.claude-…, us.anthropic.…), an inference profile or model ARN
MODEL_ID = re.compile(
    r"^(arn:aws(-[^:]+)?:bedrock:.+|([a-z]{2,4}\.)?[a-z0-9-]{1,63}\.[a-zA-Z0-9.:-]{1,128})$"
)

# podium tags its calls so a scripted brain can answer by step (InvokeAgent: session attributes;
# Converse: requestMetadata, both real fields of the services)
TAG_RUN, TAG_STEP, TAG_AGENT = "podium:run", "podium:step", "podium:agent"
DEFAULT_ACTION_GROUP = "tools"  # the action group of a mock reply's tool: that names none

START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a"
    " user message."
)
BLANK_TEXT = "The text field in the ContentBlock object is blank. Add text to the text field, and try again."
ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation"
    " alternates between user and assistant roles and try again."
)

_ERROR_STATUS = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 400,
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "InternalServerException": 500,
    "BadGatewayException": 502,
    "ServiceUnavailableException": 503,
    "DependencyFailedException": 424,
    "ModelNotReadyException": 424,
    "ModelTimeoutException": 408,
}


class BedrockRoutes(CloudEmulator):
    """Bedrock's operations on the `CloudEmulator` base; `BedrockEmulator` adds the public helpers."""

    provider = "bedrock"
    state: BedrockState

    def routes(self) -> Sequence[Route]:
        return [
            Route("POST", INVOKE_AGENT, "InvokeAgent", self._route_invoke_agent),
            Route("POST", CONVERSE, "Converse", self._route_converse),
            Route("POST", STS, "GetCallerIdentity", self._route_caller_identity),
            Route(None, OTHER_RUNTIME, "Unsupported", lambda request, _m, _d: _unknown_operation(request)),
        ]

    def unrouted(self, request: HttpRequest) -> tuple[str, Callable[[dict[str, Any]], HttpResponse]]:
        return "ControlPlane", lambda detail: self._control_plane(request)

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> HttpResponse:
        return wire.error_response(status, code, message, retry_after=retry_after)

    def fault_response(self, fault: Fault, operation: str) -> HttpResponse:
        return _fault_response(fault, operation)

    def internal_error(self, exc: Exception) -> HttpResponse:
        return HttpResponse(
            500,
            {"Content-Type": "application/json", "x-amzn-ErrorType": "InternalServerException"},
            f'{{"message": "emulator error: {type(exc).__name__}"}}'.encode(),
        )

    def _route_invoke_agent(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        ids = tuple(unquote(g) for g in match.groups())
        detail.update(zip(("agent_id", "alias_id", "session_id"), ids, strict=True))
        return self._guarded("InvokeAgent", request, detail, self._invoke_agent, ids)

    def _route_converse(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        model = unquote(match.group(1))
        return self._guarded("Converse", request, detail, self._converse, model)

    def _route_caller_identity(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        # the account a run compares with the lock file's (STS, at the endpoint podium is pointed at)
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return wire.error_response(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if b"Action=GetCallerIdentity" not in request.body:
            return _unknown_operation(request)
        return wire.caller_identity(self.state.account_id)

    def _control_plane(self, request: HttpRequest) -> HttpResponse:
        try:
            served = self.state.control_plane(request.method, request.url, request.headers, request.body)
        except MotoMissing as exc:
            return wire.error_response(501, "NotImplemented", str(exc))
        if served is None:
            return _unknown_operation(request)
        status, headers, body = served
        return HttpResponse(status, headers, body)

    def _guarded(
        self,
        operation: str,
        request: HttpRequest,
        detail: dict[str, Any],
        handler: Callable[..., HttpResponse],
        args: Any,
    ) -> HttpResponse:
        auth = request.headers.get("authorization", "")
        if not auth.startswith(("AWS4-HMAC-SHA256 ", "Bearer ")):
            return wire.error_response(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        body, problem = _body(request.body)
        if step := _podium_tags(body).get(TAG_STEP):
            detail["step"] = step
        early, fault = self.take_fault(operation, detail)
        if early is not None:
            return early
        if problem is not None:
            return wire.error_response(400, "SerializationException", problem)
        return handler(args, body, fault, detail)

    # --- InvokeAgent ----------------------------------------------------------------------------

    def _invoke_agent(
        self, ids: tuple[str, str, str], body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        agent_id, alias_id, session_id = ids
        for value, member in ((agent_id, "agentId"), (alias_id, "agentAliasId")):
            if not ID.match(value):
                return wire.constraint_error(
                    value, member, "satisfy regular expression pattern: [0-9a-zA-Z]+ of at most 10 characters"
                )
        if not SESSION_ID.match(session_id):
            return wire.constraint_error(
                session_id, "sessionId", "satisfy regular expression pattern: [0-9a-zA-Z._:-]+ (2 to 100)"
            )
        state = body.get("sessionState") if isinstance(body.get("sessionState"), dict) else {}
        text = body.get("inputText")
        if not isinstance(text, str) or not text.strip():
            if not state.get("returnControlInvocationResults"):
                return wire.validation_error("inputText must be provided and must not be blank.")
            text = ""
        agent = self.state.resolve(agent_id, alias_id)
        if agent is None:
            return wire.not_found(
                f"Failed to retrieve resource because it doesn't exist. Retry the request with a"
                f" different resource identifier. (agent {agent_id}, alias {alias_id})"
            )
        if not agent.prepared:
            return wire.error_response(
                409, "ConflictException", f"Agent {agent_id} is not prepared; prepare it before invoking."
            )
        results = state.get("returnControlInvocationResults")
        prompt, messages = text, [Message(role="user", content=text)]
        if results:
            pending = self.state.take_control(session_id)
            problem = _results_problem(results, state.get("invocationId"), pending)
            if problem is not None:
                if pending is not None:  # a wrong answer leaves the question open
                    self.state.return_control(session_id, agent_id, alias_id, pending)
                return wire.validation_error(problem)
            assert pending is not None
            prompt = text = str(pending["input"])
            bodies = [
                str(content.get("body", ""))
                for result in results
                for content in (
                    (result.get("functionResult") or result.get("apiResult") or {}).get("responseBody") or {}
                ).values()
                if isinstance(content, dict)
            ]
            messages = [Message(role="user", content=prompt), Message(role="user", content="\n".join(bodies))]
            detail["tool_results"] = bodies
        attributes = _podium_tags(body)
        turn = Turn(
            prompt=prompt,
            messages=tuple(messages),
            instructions=agent.instruction,
            step=attributes.get(TAG_STEP),
            agent=attributes.get(TAG_AGENT) or agent.podium_agent or agent.name,
            run_id=attributes.get(TAG_RUN),
            model=agent.foundation_model,
            session_id=session_id,
            answers_tool=bool(results),
        )
        detail.update(step=turn.step, agent=turn.agent, input=text)
        try:
            answer = self.brain.answer(turn)
        except StepError as exc:
            return _brain_error(exc)
        tool = answer.tool
        self.state.record_turn(
            session_id,
            agent_id,
            alias_id,
            {"input": text, "reply": answer.text, **({"tool": tool.model_dump()} if tool else {})},
        )
        detail["usage"] = answer.usage.model_dump()
        events: list[bytes] = []
        if body.get("enableTrace"):
            for part in wire.trace_events(
                agent_id=agent_id,
                alias_id=alias_id,
                version=agent.version,
                session_id=session_id,
                model=agent.foundation_model,
                prompt=text,
                reply=answer.text if tool is None else json.dumps(tool.model_dump()),
                usage=answer.usage,
                finish=tool is None,
            ):
                events.append(wire.event("trace", part))
        if tool is None:
            events.append(wire.chunk_event(answer.text))
        else:
            invocation_id = str(new_id())
            group = tool.action_group or DEFAULT_ACTION_GROUP
            self.state.return_control(
                session_id,
                agent_id,
                alias_id,
                {"invocationId": invocation_id, "actionGroup": group, "function": tool.name, "input": text},
            )
            payload = wire.return_control(invocation_id, agent_id, group, tool.name, tool.input)
            events.append(wire.event("returnControl", payload))
            detail["tool"] = tool.name
        headers = {
            "Content-Type": wire.EVENT_STREAM,
            "x-amzn-RequestId": wire.request_id(),
            "x-amz-bedrock-agent-session-id": session_id,
            "x-amzn-bedrock-agent-content-type": wire.JSON,
        }
        if body.get("memoryId"):
            headers["x-amz-bedrock-agent-memory-id"] = str(body["memoryId"])
        stream = self.stream_with(events, fault, corrupt=_corrupt, error=_stream_error)
        return HttpResponse(200, headers, stream)

    # --- Converse -------------------------------------------------------------------------------

    def _converse(
        self, model: str, body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        detail["model"] = model
        if not MODEL_ID.match(model):
            return wire.validation_error("The provided model identifier is invalid.")
        problem, messages = _messages(body.get("messages"))
        if problem:
            return wire.validation_error(problem)
        system = body.get("system") or []
        if not isinstance(system, list) or any(not isinstance(b, dict) for b in system):
            return wire.validation_error("system must be a list of content blocks.")
        instructions = "\n".join(str(b["text"]) for b in system if "text" in b) or None
        config = body.get("inferenceConfig") or {}
        problem = _inference_problem(config)
        if problem:
            return wire.validation_error(problem)
        problem, declared = _declared_tools(body.get("toolConfig"))
        problem = problem or _tool_blocks_problem(body["messages"], declared)
        if problem:
            return wire.validation_error(problem)
        answered = [
            b["toolResult"]
            for b in body["messages"][-1]["content"]
            if isinstance(b, dict) and isinstance(b.get("toolResult"), dict)
        ]
        results = [_result_text(r) for r in answered]
        if results:
            detail["tool_results"] = results
            detail["tool_status"] = [r.get("status") or "success" for r in answered]
        metadata = _podium_tags(body)
        turn = Turn(
            # after a tool's result, the question is still the step's (a scripted match: keeps matching)
            prompt=messages[0].content if results else messages[-1].content,
            messages=tuple(messages),
            instructions=instructions,
            step=metadata.get(TAG_STEP),
            agent=metadata.get(TAG_AGENT),
            run_id=metadata.get(TAG_RUN),
            model=model,
            answers_tool=bool(results),
        )
        detail.update(step=turn.step, agent=turn.agent, input=turn.prompt)
        started = time.perf_counter()
        try:
            answer = self.brain.answer(turn)
        except StepError as exc:
            return _brain_error(exc)
        text, usage, stop = answer.text, answer.usage, "end_turn"
        content: list[dict[str, Any]] | None = None
        if answer.tool is not None:
            if answer.tool.name not in declared:
                return wire.validation_error(
                    f"the scripted reply calls the tool '{answer.tool.name}', which the request's toolConfig"
                    f" does not declare (declared: {', '.join(sorted(declared)) or 'none'})"
                )
            detail["tool"] = answer.tool.name
            use = {
                "toolUseId": f"tooluse_{new_id().hex[:22]}",
                "name": answer.tool.name,
                "input": answer.tool.input,
            }
            content, stop = [{"toolUse": use}], "tool_use"
        limit = config.get("maxTokens")
        if isinstance(limit, int) and usage.output_tokens > limit:
            text = text[: limit * 4]
            usage = usage.model_copy(update={"output_tokens": limit})
            stop = "max_tokens"
        detail["usage"] = usage.model_dump()
        latency = int((time.perf_counter() - started) * 1000)
        if fault is not None and fault.kind == "stream_error":
            code = fault.code or "internalServerException"
            code = code[0].upper() + code[1:]
            return wire.error_response(_ERROR_STATUS.get(code, 500), code, "Injected error.")
        response = wire.json_response(
            200, wire.converse_body(text, usage, latency_ms=latency, stop_reason=stop, content=content)
        )
        return self.reply_with(response, fault)


def _results_problem(results: Any, invocation_id: Any, pending: dict[str, Any] | None) -> str | None:
    """Why the service would refuse returnControlInvocationResults, or None."""
    if pending is None:
        return (
            "The returnControlInvocationResults don't match any pending invocation in this session."
            " Make sure the agent returned control before sending results."
        )
    if invocation_id != pending["invocationId"]:
        return (
            f"The invocationId {invocation_id!r} doesn't match the invocation pending in this session."
            " Use the invocationId from the returnControl event."
        )
    if not isinstance(results, list) or not all(
        isinstance(r, dict) and ("functionResult" in r or "apiResult" in r) for r in results
    ):
        return "Each of returnControlInvocationResults must be a functionResult or an apiResult."
    return None


def _podium_tags(body: dict[str, Any]) -> dict[str, str]:
    """The tags podium puts on its calls: session attributes (InvokeAgent) or requestMetadata (Converse)."""
    state = body.get("sessionState")
    found = state.get("sessionAttributes") if isinstance(state, dict) else None
    found = found or body.get("requestMetadata")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _body(raw: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}, "The request body is not valid JSON."
    if not isinstance(body, dict):
        return {}, "The request body must be a JSON object."
    return body, None


def _corrupt(frame: bytes) -> bytes:
    """The frame with a broken message checksum."""
    return frame[:-4] + bytes(b ^ 0xFF for b in frame[-4:])


def _stream_error(fault: Fault) -> bytes:
    return wire.exception_event(fault.code or "internalServerException", "Injected stream error.")


def _messages(raw: Any) -> tuple[str | None, list[Message]]:
    """The conversation as podium's messages: text blocks joined; a user turn of ``toolResult`` blocks
    becomes their contents (a model turn's ``toolUse`` blocks are its request, checked elsewhere)."""
    if not isinstance(raw, list) or not raw:
        return START_WITH_USER, []
    messages: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role must be user or assistant.", []
        blocks = item.get("content")
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{index}.content must not be empty.", []
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and "text" in b]
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            return BLANK_TEXT, []
        results = [_result_text(b["toolResult"]) for b in blocks if isinstance(b, dict) and "toolResult" in b]
        messages.append(Message(role=item["role"], content="\n".join([*texts, *results])))
    if messages[0].role != "user":
        return START_WITH_USER, []
    for before, after in itertools.pairwise(messages):
        if before.role == after.role:
            return ALTERNATE, []
    if messages[-1].role != "user":
        return "The last message in the conversation must be from the user.", []
    return None, messages


def _result_text(result: Any) -> str:
    content = result.get("content") if isinstance(result, dict) else None
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and "json" in block:
            parts.append(json.dumps(block["json"], ensure_ascii=False))
        elif isinstance(block, dict) and "text" in block:
            parts.append(str(block["text"]))
    return "\n".join(parts)


def _declared_tools(config: Any) -> tuple[str | None, set[str]]:
    """The tool names a ``toolConfig`` declares, or why Converse would refuse it."""
    if config is None:
        return None, set()
    tools = config.get("tools") if isinstance(config, dict) else None
    if not isinstance(tools, list) or not tools:
        return "toolConfig.tools must hold at least one tool.", set()
    names: set[str] = set()
    for index, tool in enumerate(tools):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict):
            return f"toolConfig.tools.{index} must be a toolSpec.", set()
        name = spec.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return (
                f"1 validation error detected: Value '{name}' at"
                f" 'toolConfig.tools.{index}.member.toolSpec.name' failed to satisfy constraint:"
                " Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                set(),
            )
        schema = (
            (spec.get("inputSchema") or {}).get("json") if isinstance(spec.get("inputSchema"), dict) else None
        )
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"The inputSchema of tool {name} must be a JSON Schema of type object.", set()
        names.add(name)
    return None, names


def _tool_blocks_problem(raw: list[Any], declared: set[str]) -> str | None:
    """Why Converse would refuse the conversation's toolUse / toolResult blocks, or None: tools need a
    toolConfig, and each toolResult answers a toolUse of the model turn just before it."""
    asked: set[str] = set()
    for item in raw:
        blocks = [b for b in item.get("content") or [] if isinstance(b, dict)]
        uses = [b["toolUse"] for b in blocks if isinstance(b.get("toolUse"), dict)]
        results = [b["toolResult"] for b in blocks if isinstance(b.get("toolResult"), dict)]
        if (uses or results) and not declared:
            return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        for result in results:
            if result.get("toolUseId") not in asked:
                return (
                    "The toolResult blocks at the current turn do not match the toolUse blocks of the"
                    f" previous turn (toolUseId {result.get('toolUseId')!r})."
                )
            if result.get("status") not in (None, "success", "error"):
                return "toolResult.status must be success or error."
        asked = {str(u.get("toolUseId")) for u in uses}
    return None


def _inference_problem(config: Any) -> str | None:
    if not isinstance(config, dict):
        return "inferenceConfig must be an object."
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return "inferenceConfig.maxTokens must be a whole number of at least 1."
    for name in ("temperature", "topP"):
        value = config.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            return f"inferenceConfig.{name} must be between 0 and 1."
    return None


def _fault_response(fault: Fault, operation: str) -> HttpResponse:
    if fault.kind == "throttle":
        return wire.error_response(
            429,
            "ThrottlingException",
            fault.message or "Too many requests, please wait before trying again.",
            retry_after=fault.retry_after,
        )
    if fault.kind == "auth":
        return wire.error_response(
            403, "AccessDeniedException", fault.message or "You don't have access to this resource."
        )
    status = fault.status or 500
    code = {502: "BadGatewayException", 503: "ServiceUnavailableException"}.get(
        status, "InternalServerException"
    )
    if status == 502 and operation == "Converse":
        code = "InternalServerException"
    return wire.error_response(
        status,
        code,
        fault.message or "The service encountered an internal error.",
        retry_after=fault.retry_after,
    )


def _brain_error(exc: StepError) -> HttpResponse:
    """A brain's podium error (a scripted `error:`) as the service's own error response."""
    message = exc.message
    if exc.kind == "throttled":
        return wire.error_response(429, "ThrottlingException", message, retry_after=exc.retry_after)
    if exc.kind == "invalid_request":
        return wire.validation_error(message + (f" ({exc.fix})" if exc.fix else ""))
    if exc.kind == "auth":
        return wire.error_response(403, "AccessDeniedException", message)
    if exc.kind == "timeout":
        return wire.error_response(408, "ModelTimeoutException", message)
    return wire.error_response(500, "InternalServerException", message, retry_after=exc.retry_after)


def _unknown_operation(request: HttpRequest) -> HttpResponse:
    return wire.error_response(
        404,
        "UnknownOperationException",
        f"podium's Bedrock emulator does not implement {request.method} {request.path}",
    )
