"""The emulator's routes: every Bedrock operation by its own method and path, from botocore's models.

One port serves ``bedrock-runtime`` (Converse, ConverseStream, InvokeModel and its stream),
``bedrock-agent-runtime`` (InvokeAgent, InvokeInlineAgent), ``bedrock-agent`` (the control plane,
moto's backend with podium's additions) and ``bedrock`` (the foundation models and inference
profiles); their methods and paths never clash but for the tag calls, which mean the same in each.
Each served operation's route is its service model's own (`operations.operation`); any other
operation of the four models is answered with a 501 naming it, in the service's error shape, and a
request that is no operation of theirs with the service's UnknownOperationException. To serve
another operation (bedrock-agentcore's, say), add a `Route` from `operations.operation(service,
name)` to `routes()`, and the service to `operations.SERVICES` so that its other operations 501.
Serving, faults and the request log are the `CloudEmulator` base's.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from podium.core.calls import Message, Usage
from podium.core.errors import StepError
from podium.providers._kit.brains import Answer, Turn, forced_input
from podium.providers._kit.emulator import CloudEmulator, Route, new_id
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers.bedrock import invoke_model, management, models, operations, runtime_emulator, wire
from podium.providers.bedrock.state import BedrockState, MotoMissing, ResolvedAgent

if TYPE_CHECKING:
    from podium.core.spec import MockTool

STS = re.compile(r"^/$")  # STS's query protocol: every action is a form POST to the root
RUNTIME, AGENT_RUNTIME, CONTROL, MANAGEMENT = (
    "bedrock-runtime",
    "bedrock-agent-runtime",
    "bedrock-agent",
    "bedrock",
)
# the control plane's operations moto (with podium's additions in control.py) serves
CONTROL_PLANE = (
    "CreateAgent", "GetAgent", "ListAgents", "UpdateAgent", "DeleteAgent", "PrepareAgent",
    "CreateAgentAlias", "GetAgentAlias", "ListAgentAliases", "UpdateAgentAlias", "DeleteAgentAlias",
    "CreateAgentActionGroup", "GetAgentActionGroup", "ListAgentActionGroups", "UpdateAgentActionGroup",
    "DeleteAgentActionGroup", "CreateKnowledgeBase", "GetKnowledgeBase", "ListKnowledgeBases",
    "DeleteKnowledgeBase", "TagResource", "UntagResource", "ListTagsForResource",
)  # fmt: skip
INLINE_AGENT_ID = "INLINEAGNT"  # the agentId a returnControl of an inline agent (which has none) names

ID = re.compile(r"^[0-9a-zA-Z]{1,10}$")
SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

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
    agentcore: runtime_emulator.RuntimeState

    def routes(self) -> Sequence[Route]:
        def op(service: str, name: str, handler: Callable[..., HttpResponse]) -> Route:
            found = operations.operation(service, name)
            return Route(found.method, found.path, name, handler)

        # the hot paths first: routes are tried in order
        return [
            op(AGENT_RUNTIME, "InvokeAgent", self._route_invoke_agent),
            op(RUNTIME, "Converse", self._route_converse),
            op(RUNTIME, "ConverseStream", self._route_converse_stream),
            op(RUNTIME, "InvokeModel", self._route_invoke_model),
            op(RUNTIME, "InvokeModelWithResponseStream", self._route_invoke_model),
            op(AGENT_RUNTIME, "InvokeInlineAgent", self._route_invoke_inline_agent),
            *runtime_emulator.routes(self),  # AgentCore Runtime, and its control plane (runtime_emulator.py)
            Route("POST", STS, "GetCallerIdentity", self._route_caller_identity),
            op(MANAGEMENT, "ListFoundationModels", self._route_management),
            op(MANAGEMENT, "GetFoundationModel", self._route_management),
            op(MANAGEMENT, "ListInferenceProfiles", self._route_management),
            op(MANAGEMENT, "GetInferenceProfile", self._route_management),
            *(op(CONTROL, name, self._control_route(name)) for name in CONTROL_PLANE),
        ]

    def unrouted(self, request: HttpRequest) -> tuple[str, Callable[[dict[str, Any]], HttpResponse]]:
        """An operation of the models that is not served: a 501 naming it; else the service's 404."""
        found = operations.find(request.method, request.path)
        if found is None:
            return "Unknown", lambda detail: _unknown_operation(request)
        return found.name, lambda detail: wire.not_implemented(found.name)

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> HttpResponse:
        return wire.error_response(status, code, message, retry_after=retry_after)

    def fault_response(self, fault: Fault, operation: str) -> HttpResponse:
        return _fault_response(fault, operation)

    malformed_code = "SerializationException"

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

    def _route_converse_stream(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        model = unquote(match.group(1))
        return self._guarded("ConverseStream", request, detail, self._converse_stream, model)

    def _route_invoke_model(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        streamed = request.path.endswith("/invoke-with-response-stream")
        operation = "InvokeModelWithResponseStream" if streamed else "InvokeModel"
        return self._guarded(
            operation, request, detail, self._invoke_model, (unquote(match.group(1)), streamed),
            malformed=invoke_model.MALFORMED.format("#: the body is not a JSON object"),
        )  # fmt: skip

    def _route_invoke_inline_agent(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        session_id = unquote(match.group(1))
        detail["session_id"] = session_id
        return self._guarded("InvokeInlineAgent", request, detail, self._invoke_inline_agent, session_id)

    def _route_management(
        self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]
    ) -> HttpResponse:
        region, account = self.state.region, self.state.account_id
        if request.path == "/foundation-models":
            return management.list_foundation_models(request, region)
        if request.path == "/inference-profiles":
            return management.list_inference_profiles(request, region, account)
        if request.path.startswith("/foundation-models/"):
            return management.get_foundation_model(request, match.group(1), region)
        return management.get_inference_profile(match.group(1), region, account)

    def _control_route(
        self, name: str
    ) -> Callable[[HttpRequest, re.Match[str], dict[str, Any]], HttpResponse]:
        return lambda request, _match, _detail: self._control_plane(name, request)

    def _control_plane(self, name: str, request: HttpRequest) -> HttpResponse:
        if name in ("CreateAgent", "UpdateAgent"):
            body, _ = _body(request.body)
            model = body.get("foundationModel")
            if isinstance(model, str) and not models.known(model):
                return wire.validation_error(models.INVALID_MODEL)
        try:
            served = self.state.control_plane(
                name, request.method, request.url, request.headers, request.body
            )
        except MotoMissing as exc:
            return wire.error_response(501, "NotImplementedException", str(exc))
        if served is None:
            return wire.not_implemented(name)
        status, headers, body_bytes = served
        return HttpResponse(status, headers, body_bytes)

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

    def _guarded(
        self,
        operation: str,
        request: HttpRequest,
        detail: dict[str, Any],
        handler: Callable[..., HttpResponse],
        args: Any,
        *,
        malformed: str | None = None,
    ) -> HttpResponse:
        """Auth checked, the body read (not JSON: a SerializationException, or `malformed` as a
        ValidationException), the operation's fault taken; then `handler(args, body, fault, detail)`."""
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
            if malformed is not None:
                return wire.validation_error(malformed)
            return wire.error_response(400, "SerializationException", problem)
        try:
            return handler(args, body, fault, detail)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            # a field of the wrong type that a check above let through: the client's error, never a 500
            # (which SDKs retry)
            return wire.validation_error(f"{operation}: a field of the request has the wrong type ({exc}).")

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
        return self._agent_turn(agent, session_id, text, state, body, fault, detail)

    def _invoke_inline_agent(
        self, session_id: str, body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        """InvokeInlineAgent: the agent is the request's own (model, instruction, action groups)."""
        if not SESSION_ID.match(session_id):
            return wire.constraint_error(
                session_id, "sessionId", "satisfy regular expression pattern: [0-9a-zA-Z._:-]+ (2 to 100)"
            )
        model, instruction = body.get("foundationModel"), body.get("instruction")
        if not isinstance(model, str) or not model:
            return wire.validation_error("foundationModel must be provided.")
        if not models.known(model):
            return wire.validation_error(models.INVALID_MODEL)
        if not isinstance(instruction, str) or len(instruction) < 40:
            return wire.constraint_error(
                str(instruction)[:40], "instruction", "have length greater than or equal to 40"
            )
        state = body.get("inlineSessionState") if isinstance(body.get("inlineSessionState"), dict) else {}
        text = body.get("inputText")
        if not isinstance(text, str) or not text.strip():
            if not state.get("returnControlInvocationResults"):
                return wire.validation_error("inputText must be provided and must not be blank.")
            text = ""
        groups = body.get("actionGroups")
        functions: dict[str, tuple[str, bool]] | None = None
        if isinstance(groups, list) and groups:
            functions = {}
            for group in groups:
                if not isinstance(group, dict) or not group.get("actionGroupName"):
                    return wire.validation_error("Each of actionGroups needs an actionGroupName.")
                control = (group.get("actionGroupExecutor") or {}).get("customControl") == "RETURN_CONTROL"
                for fn in (group.get("functionSchema") or {}).get("functions") or []:
                    if isinstance(fn, dict) and fn.get("name"):
                        functions[str(fn["name"])] = (str(group["actionGroupName"]), control)
        agent = ResolvedAgent(
            agent_id=INLINE_AGENT_ID, alias_id=INLINE_AGENT_ID, version="DRAFT",
            name=str(body.get("agentName") or "inline-agent"), instruction=instruction,
            foundation_model=model, podium_agent=None, prepared=True, functions=functions,
        )  # fmt: skip
        # podium's tags (and any caller's session attributes) live in inlineSessionState here
        return self._agent_turn(
            agent, session_id, text, state, {**body, "sessionState": state}, fault, detail
        )

    def _agent_turn(
        self,
        agent: ResolvedAgent,
        session_id: str,
        text: str,
        state: dict[str, Any],
        body: dict[str, Any],
        fault: Fault | None,
        detail: dict[str, Any],
    ) -> HttpResponse:
        """One turn of an agent (classic or inline): the brain's answer as chunk, trace and
        returnControl events; a pending control's results, when the request carries them."""
        agent_id, alias_id = agent.agent_id, agent.alias_id
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
        group = None
        if tool is not None:
            group, problem = _action_group_for(agent, tool)
            if problem is not None:
                return problem
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
            group = group or DEFAULT_ACTION_GROUP
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
        said = self._converse_answer(model, body, detail)
        if isinstance(said, HttpResponse):
            return said
        if fault is not None and fault.kind == "stream_error":
            code = fault.code or "internalServerException"
            code = code[0].upper() + code[1:]
            return wire.error_response(_ERROR_STATUS.get(code, 500), code, "Injected error.")
        content = [{"toolUse": said.tool_use}] if said.tool_use else None
        reply = wire.converse_body(
            said.text, said.usage, latency_ms=said.latency_ms, stop_reason=said.stop, content=content
        )
        return self.reply_with(wire.json_response(200, reply), fault)

    def _converse_stream(
        self, model: str, body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        said = self._converse_answer(model, body, detail)
        if isinstance(said, HttpResponse):
            return said
        events = wire.converse_stream_events(
            said.text, said.usage, latency_ms=said.latency_ms, stop_reason=said.stop, tool_use=said.tool_use
        )
        headers = {"Content-Type": wire.EVENT_STREAM, "x-amzn-RequestId": wire.request_id()}
        return HttpResponse(
            200, headers, self.stream_with(events, fault, corrupt=_corrupt, error=_stream_error)
        )

    def _converse_answer(
        self, model: str, body: dict[str, Any], detail: dict[str, Any]
    ) -> HttpResponse | _Said:
        """Converse's (and ConverseStream's) answer, or the service's error for the request."""
        detail["model"] = model
        if not models.known(model):
            return wire.validation_error(models.INVALID_MODEL)
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
        forced, choice_problem = _forced_tool(body.get("toolConfig"), declared)
        problem = problem or choice_problem
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
            # the question is the user's last words: after a tool's result, still the question that
            # asked for the tool (a scripted match keeps matching); in a chat, the newest question
            prompt=_asked(body["messages"]) or messages[-1].content,
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
        said = _Said(text=answer.text, usage=answer.usage)
        call: tuple[str, dict[str, Any]] | None = None
        if answer.tool is not None:
            if answer.tool.name not in declared:
                return wire.validation_error(
                    f"the scripted reply calls the tool '{answer.tool.name}', which the request's toolConfig"
                    f" does not declare (declared: {', '.join(sorted(declared)) or 'none'})"
                )
            call = (answer.tool.name, dict(answer.tool.input))
        if forced is not None and (call is None or call[0] != forced):
            call = _forced_call(answer, forced, declared[forced])
        if call is not None:
            detail["tool"] = call[0]
            said.tool_use = {"toolUseId": f"tooluse_{new_id().hex[:22]}", "name": call[0], "input": call[1]}
            said.text, said.stop = "", "tool_use"
        limit = config.get("maxTokens")
        if isinstance(limit, int) and said.usage.output_tokens > limit and said.tool_use is None:
            said.text = said.text[: limit * 4]
            said.usage = said.usage.model_copy(update={"output_tokens": limit})
            said.stop = "max_tokens"
        detail["usage"] = said.usage.model_dump()
        said.latency_ms = int((time.perf_counter() - started) * 1000)
        return said

    # --- InvokeModel ----------------------------------------------------------------------------

    def _invoke_model(
        self, args: tuple[str, bool], body: dict[str, Any], fault: Fault | None, detail: dict[str, Any]
    ) -> HttpResponse:
        """InvokeModel (a whole reply, usage in headers too) or its stream, in the model's own format."""
        model, streamed = args
        detail["model"] = model
        if not models.known(model):
            return wire.validation_error(models.INVALID_MODEL)
        found = models.resolve(model)
        kind = models.family(model)
        if kind is None:
            return wire.validation_error(
                "podium's emulator speaks InvokeModel bodies of Anthropic, Titan Text, Nova, Llama and"
                f" Mistral models, not {model}'s; call Converse for it"
            )
        problem, asked = invoke_model.parse(kind, body)
        if problem is not None or asked is None:
            return wire.validation_error(problem or invoke_model.MALFORMED.format("#"))
        turn = Turn(
            prompt=asked.messages[-1].content, messages=asked.messages, instructions=asked.instructions,
            model=model,
        )  # fmt: skip
        detail["input"] = turn.prompt
        started = time.perf_counter()
        try:
            answer = self.brain.answer(turn)
        except StepError as exc:
            return _brain_error(exc)
        tool, text, usage, stop = answer.tool, answer.text, answer.usage, "end_turn"
        if tool is not None and tool.name not in asked.tools:
            return wire.validation_error(
                f"the scripted reply calls the tool '{tool.name}', which the request's tools do not declare"
                f" (declared: {', '.join(sorted(asked.tools)) or 'none'})"
            )
        if tool is not None:
            stop = "tool_use"
        elif asked.max_tokens is not None and usage.output_tokens > asked.max_tokens:
            text, stop = text[: asked.max_tokens * 4], "max_tokens"
            usage = usage.model_copy(update={"output_tokens": asked.max_tokens})
        detail["usage"] = usage.model_dump()
        latency = int((time.perf_counter() - started) * 1000)
        base = found.model_id if found is not None else model
        usage_headers = invoke_model.usage_headers(usage, latency)
        if not streamed:
            reply = invoke_model.reply(kind, base, text, usage, stop, tool)
            return self.reply_with(wire.json_response(200, reply, usage_headers), fault)
        chunks = [
            wire.model_chunk(c)
            for c in invoke_model.stream_chunks(kind, base, text, usage, stop, latency, tool)
        ]
        headers = {
            "Content-Type": wire.EVENT_STREAM,
            "x-amzn-RequestId": wire.request_id(),
            "X-Amzn-Bedrock-Content-Type": wire.JSON,
        }
        return HttpResponse(
            200, headers, self.stream_with(chunks, fault, corrupt=_corrupt, error=_stream_error)
        )


@dataclass(slots=True)
class _Said:
    """Converse's answer, before it is sent whole or as a stream."""

    text: str
    usage: Usage
    stop: str = "end_turn"
    tool_use: dict[str, Any] | None = None
    latency_ms: int = 0


def _forced_tool(config: Any, declared: dict[str, Any]) -> tuple[str | None, str | None]:
    """The tool a ``toolChoice`` forces (``tool`` names it; ``any`` forces the first declared), or
    None (``auto``, or no choice), and why the service would refuse the choice."""
    choice = config.get("toolChoice") if isinstance(config, dict) else None
    if choice is None:
        return None, None
    if not isinstance(choice, dict) or len(choice) != 1:
        return None, "toolConfig.toolChoice must hold exactly one of auto, any or tool."
    if "auto" in choice:
        return None, None
    if "any" in choice:
        if not declared:
            return None, "toolConfig.toolChoice any needs at least one tool in toolConfig.tools."
        return next(iter(declared)), None
    name = (choice.get("tool") or {}).get("name") if isinstance(choice.get("tool"), dict) else None
    if name not in declared:
        return None, (
            f"The tool {name} in toolConfig.toolChoice is not one of the tools toolConfig declares"
            f" ({', '.join(declared)})."
        )
    return str(name), None


def _forced_call(answer: Answer, name: str, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The brain's reply as a call of the tool a toolChoice forces: a JSON object reply is its input;
    other text fills the schema's required fields (the text in strings, zero values elsewhere)."""
    if answer.tool is not None and answer.tool.name == name:
        return name, dict(answer.tool.input)
    return name, forced_input(answer.text, schema)


def _action_group_for(agent: ResolvedAgent, tool: MockTool) -> tuple[str | None, HttpResponse | None]:
    """The action group whose function a scripted tool call asks for, or the error the call gets.

    An agent with action groups may ask only for a function one of its enabled groups declares,
    and returns control only for a ``RETURN_CONTROL`` group (a Lambda group the emulator cannot
    run). An agent with none (made by `add_agent`) returns control for any tool, in the group the
    script names (else ``tools``).
    """
    if agent.functions is None:
        return tool.action_group, None
    found = agent.functions.get(tool.name)
    if found is None or (tool.action_group and tool.action_group != found[0]):
        declared = ", ".join(sorted(agent.functions)) or "none"
        return None, wire.validation_error(
            f"the scripted reply calls the function '{tool.name}', which no enabled action group of agent"
            f" {agent.agent_id} declares (declared: {declared}); add it to an action group's functionSchema"
        )
    group, returns_control = found
    if not returns_control:
        return None, wire.error_response(
            424,
            "DependencyFailedException",
            f"action group '{group}' runs '{tool.name}' in a Lambda function, which podium's emulator cannot"
            " call; give the action group actionGroupExecutor {customControl: RETURN_CONTROL}",
        )
    return group, None


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


def _declared_tools(config: Any) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The tools a ``toolConfig`` declares (name -> input schema), or why Converse would refuse it."""
    if config is None:
        return None, {}
    tools = config.get("tools") if isinstance(config, dict) else None
    if not isinstance(tools, list) or not tools:
        return "toolConfig.tools must hold at least one tool.", {}
    names: dict[str, dict[str, Any]] = {}
    for index, tool in enumerate(tools):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict):
            return f"toolConfig.tools.{index} must be a toolSpec.", {}
        name = spec.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return (
                f"1 validation error detected: Value '{name}' at"
                f" 'toolConfig.tools.{index}.member.toolSpec.name' failed to satisfy constraint:"
                " Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                {},
            )
        schema = (
            (spec.get("inputSchema") or {}).get("json") if isinstance(spec.get("inputSchema"), dict) else None
        )
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"The inputSchema of tool {name} must be a JSON Schema of type object.", {}
        names[name] = schema
    return None, names


def _tool_blocks_problem(raw: list[Any], declared: dict[str, dict[str, Any]]) -> str | None:
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


def _asked(raw: list[dict[str, Any]]) -> str:
    """The text of the last user turn that says something (a turn of tool results only does not)."""
    for turn in reversed(raw):
        said = [str(b["text"]) for b in turn.get("content") or [] if isinstance(b, dict) and "text" in b]
        if turn.get("role") == "user" and any(t.strip() for t in said):
            return "\n".join(said)
    return ""
