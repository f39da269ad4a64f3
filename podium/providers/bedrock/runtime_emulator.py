"""The emulated AgentCore Runtime: InvokeAgentRuntime answered by the brain, its control plane by moto.

Served on the Bedrock emulator's port beside the other Bedrock services (their paths do not
overlap): ``POST /runtimes/{agentRuntimeArn}/invocations`` (``bedrock-agentcore``) and the
runtime calls of ``bedrock-agentcore-control`` (``PUT /runtimes/``, ``GET /runtimes/{id}/``, …),
which moto's ``bedrockagentcorecontrol`` backend serves, with its ids and ARNs made the service's
(``arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME-ID``, the same for every version).

A runtime the control plane does not know, named by an ARN in the emulator's own account and
region, is taken as a READY runtime at its first invocation or GetAgentRuntime (and created in the
control plane then): a workflow bound to a runtime runs (and deploys) under ``--emulate`` with no
setup (`RuntimeState.adopt` off: an unknown runtime is not found). One in another account or
region is the service's ResourceNotFoundException; one whose status is not READY is refused
(CREATING or UPDATING: RetryableConflictException; failed or deleting: ValidationException).

The reply is what an agent built on the AgentCore SDK sends: ``text/event-stream`` by default,
Strands-style events (text deltas under ``event.contentBlockDelta``, then ``event.metadata``
with the usage), or, when the request's Accept asks for JSON only, one body
``{"result": {"role": "assistant", "content": [{"text": …}]}, "usage": {…}}``. `RuntimeState.usage`
off leaves the usage out (an agent that reports none).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from podium.core.calls import Message
from podium.core.errors import StepError
from podium.providers._kit.brains import Turn
from podium.providers._kit.emulator import Route, clip
from podium.providers._kit.faults import Fault
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers.bedrock import operations, wire
from podium.providers.bedrock.agentcore import RUNTIME_ARN, SESSION_HEADER, TAG_HEADER

if TYPE_CHECKING:
    from podium.providers.bedrock.routes import BedrockRoutes

INVOKE = re.compile(r"^/runtimes/([^/]+)/invocations/?$")
CONTROL_SERVICE = "bedrock-agentcore-control"
# the control plane's runtime operations (moto's bedrockagentcorecontrol serves them); the rest of
# bedrock-agentcore and its control plane answers 501 naming itself, as every unserved operation does
CONTROL_PLANE = (
    "CreateAgentRuntime", "GetAgentRuntime", "UpdateAgentRuntime", "DeleteAgentRuntime",
    "ListAgentRuntimes", "ListAgentRuntimeVersions", "CreateAgentRuntimeEndpoint",
    "GetAgentRuntimeEndpoint", "UpdateAgentRuntimeEndpoint", "DeleteAgentRuntimeEndpoint",
    "ListAgentRuntimeEndpoints",
)  # fmt: skip
OPERATION = "InvokeAgentRuntime"
_ALNUM = string.ascii_letters + string.digits

# InvokeAgentRuntime's errors, with the HTTP status botocore's model gives each
ERRORS = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 402,
    "RetryableConflictException": 409,
    "InternalServerException": 500,
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "AccessDeniedException": 403,
    "RuntimeClientError": 424,
}


@dataclass(slots=True)
class RuntimeSession:
    """One runtime session: the runtime it is on, the user ids it was called with, its turns."""

    session_id: str
    runtime_arn: str
    users: list[str | None] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)


class RuntimeState:
    """The runtimes (a moto backend of this emulator's own) and their sessions; thread-safe."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.lock = threading.RLock()
        self.sessions: dict[str, RuntimeSession] = {}
        self.usage = True  # whether replies report usage (off: an agent that reports none)
        # take an unknown runtime (in this account and region) as READY at first use; off: the
        # service's ResourceNotFoundException, as for a runtime that was never created
        self.adopt = True
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        with self.lock:
            if self._backend is None:
                self._backend = _backend_class()(self.region, self.account_id)
            return self._backend

    def add_runtime(self, name: str, *, status: str = "READY", podium_agent: str | None = None) -> str:
        """Create a runtime as CreateAgentRuntime would, with `status`; returns its ARN."""
        with self.lock:
            tags = {"podium:agent": podium_agent} if podium_agent else None
            runtime = self.backend.create_agent_runtime(
                agent_runtime_name=name,
                agent_runtime_artifact={"containerConfiguration": {"containerUri": "podium/emulated:latest"}},
                role_arn=f"arn:aws:iam::{self.account_id}:role/podium-emulator",
                network_configuration={"networkMode": "PUBLIC"},
                description="created directly in podium's emulator",
                authorizer_configuration=None,
                request_header_configuration=None,
                protocol_configuration=None,
                lifecycle_configuration=None,
                environment_variables=None,
                tags=tags,
            )
            runtime.status = status
            return str(runtime.agent_runtime_arn)

    def set_status(self, arn: str, status: str) -> None:
        with self.lock:
            self.backend.agent_runtimes[arn.rsplit("/", 1)[-1]].status = status

    def find(self, arn: str) -> tuple[Any | None, HttpResponse | None]:
        """The runtime an ARN names (adopted when unknown but in this account and region), or the
        service's error for it."""
        match = RUNTIME_ARN.match(arn)
        if match is None:
            return None, _validation(
                f"1 validation error detected: Value '{arn}' at 'agentRuntimeArn' failed to satisfy"
                " constraint: Member must be an AgentCore runtime ARN"
                " (arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/NAME-ID)",
                field="agentRuntimeArn",
            )
        with self.lock:
            runtime = self.backend.agent_runtimes.get(match.group("id"))
            if runtime is None:
                elsewhere = (match.group("account"), match.group("region")) != (self.account_id, self.region)
                if elsewhere or not self.adopt:
                    return None, _error(
                        "ResourceNotFoundException", f"No agent runtime found with the ARN {arn}"
                    )
                runtime = self.backend.adopt(match.group("id"), match.group("name"))
            return runtime, None

    def adopt_id(self, runtime_id: str) -> None:
        """Take an unknown runtime id as a READY runtime of this account (GetAgentRuntime at deploy)."""
        match = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9_]{0,47})-[a-zA-Z0-9]{10}", runtime_id)
        with self.lock:
            if self.adopt and match and runtime_id not in self.backend.agent_runtimes:
                self.backend.adopt(runtime_id, match.group(1))

    def record(self, session_id: str, arn: str, user: str | None, turn: dict[str, Any]) -> None:
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                session = self.sessions[session_id] = RuntimeSession(session_id, arn)
            session.users.append(user)
            session.turns.append(clip(turn))


def _backend_class() -> type:
    """moto's bedrock-agentcore-control backend, with the service's ids and ARNs (moto's are not)."""
    from moto.bedrockagentcorecontrol.models import BedrockAgentCoreControlBackend

    class AgentCoreBackend(BedrockAgentCoreControlBackend):  # type: ignore[misc]
        def _arn(self, runtime_id: str) -> str:
            return f"arn:aws:bedrock-agentcore:{self.region_name}:{self.account_id}:runtime/{runtime_id}"

        def _rekey(self, runtime: Any, runtime_id: str) -> Any:
            del self.agent_runtimes[runtime.agent_runtime_id]
            runtime.agent_runtime_id = runtime_id
            runtime.agent_runtime_arn = self._arn(runtime_id)
            for version in runtime.versions:
                version.update(agentRuntimeId=runtime_id, agentRuntimeArn=runtime.agent_runtime_arn)
            self.agent_runtimes[runtime_id] = runtime
            return runtime

        def create_agent_runtime(self, **kwargs: Any) -> Any:
            tags = kwargs.pop("tags", None)
            runtime = super().create_agent_runtime(**kwargs, tags=None)
            suffix = "".join(secrets.choice(_ALNUM) for _ in range(10))
            self._rekey(runtime, f"{kwargs['agent_runtime_name']}-{suffix}")
            if tags:
                self.tag_resource(runtime.agent_runtime_arn, tags)
            return runtime

        def adopt(self, runtime_id: str, name: str) -> Any:
            runtime = super().create_agent_runtime(
                agent_runtime_name=name,
                agent_runtime_artifact={"containerConfiguration": {"containerUri": "podium/emulated:latest"}},
                role_arn=f"arn:aws:iam::{self.account_id}:role/podium-emulator",
                network_configuration={"networkMode": "PUBLIC"},
                description="taken as READY by podium's emulator at its first invocation",
                authorizer_configuration=None, request_header_configuration=None,
                protocol_configuration=None, lifecycle_configuration=None,
                environment_variables=None, tags=None,
            )  # fmt: skip
            runtime.status = "READY"
            return self._rekey(runtime, runtime_id)

        def update_agent_runtime(self, agent_runtime_id: str, **kwargs: Any) -> Any:
            runtime = self._get_runtime(agent_runtime_id)
            arn = runtime.agent_runtime_arn
            # moto's update rebuilds a (moto-shaped) ARN from the old one; the service's stays put
            runtime.agent_runtime_arn = f"arn:aws:bedrock-agentcore:x:y:agent/{agent_runtime_id}:0"
            try:
                super().update_agent_runtime(agent_runtime_id, **kwargs)
            finally:
                runtime.agent_runtime_arn = arn
            runtime.versions[-1]["agentRuntimeArn"] = arn
            return runtime

    return AgentCoreBackend


def control_plane(state: RuntimeState, request: HttpRequest) -> HttpResponse | None:
    """Serve one bedrock-agentcore-control request with moto; None when it is none of its calls."""
    from moto.bedrockagentcorecontrol.exceptions import ResourceNotFoundException
    from moto.bedrockagentcorecontrol.responses import BedrockAgentCoreControlResponse
    from moto.core.request import Request

    class Response(BedrockAgentCoreControlResponse):  # type: ignore[misc]
        @property
        def backend(self) -> Any:
            return state.backend

    response = Response()
    response.setup_class(Request.from_primitives(request.method, request.url, request.headers, request.body))
    if not response._get_action():
        return None
    with state.lock:
        try:
            status, headers, body = response.call_action()
        except NotImplementedError:
            return None
        except ResourceNotFoundException as exc:
            return _error("ResourceNotFoundException", str(exc.message))
    clean = {k: str(v) for k, v in headers.items() if k.lower() != "status"}
    clean.setdefault("Content-Type", "application/json")
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    return HttpResponse(int(status), clean, data)


def routes(emu: BedrockRoutes) -> list[Route]:
    """The routes to put first in the Bedrock emulator's table."""

    def invoke(request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        return _invoke(emu, request, unquote(match.group(1)), detail)

    def control(name: str) -> Callable[[HttpRequest, re.Match[str], dict[str, Any]], HttpResponse]:
        def serve(request: HttpRequest, _match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
            if not _signed(request):
                return _missing_auth()
            detail["call"] = f"{request.method} {request.path}"
            if request.method == "GET" and (known := re.fullmatch(r"/runtimes/([^/]+)/?", request.path)):
                emu.agentcore.adopt_id(unquote(known.group(1)))
            served = control_plane(emu.agentcore, request)
            return served if served is not None else wire.not_implemented(name)

        return serve

    def op(name: str) -> Route:
        found = operations.operation(CONTROL_SERVICE, name)
        return Route(found.method, found.path, name, control(name))

    return [Route("POST", INVOKE, OPERATION, invoke), *(op(name) for name in CONTROL_PLANE)]


# --- InvokeAgentRuntime -------------------------------------------------------------------------


def _invoke(emu: BedrockRoutes, request: HttpRequest, arn: str, detail: dict[str, Any]) -> HttpResponse:
    if not _signed(request):
        return _missing_auth()
    headers = request.headers
    session_id = headers.get(SESSION_HEADER.lower(), "")
    user = headers.get("x-amzn-bedrock-agentcore-runtime-user-id")
    qualifier = (request.query.get("qualifier") or [None])[0]
    tag = TAG_HEADER.lower()
    detail.update(
        runtime_arn=arn, session_id=session_id, user_id=user, qualifier=qualifier,
        step=headers.get(f"{tag}step"), accept=headers.get("accept"), trace_id=headers.get("x-amzn-trace-id"),
    )  # fmt: skip
    early, fault = emu.take_fault(OPERATION, detail)
    if early is not None:
        return early
    if fault is not None and fault.kind == "stream_error" and _service_code(fault.code) is not None:
        code = str(_service_code(fault.code))
        return _error(code, fault.message or f"Injected {code}.", retry_after=fault.retry_after)
    if not 33 <= len(session_id) <= 256:
        return _validation(
            f"1 validation error detected: Value at 'runtimeSessionId' failed to satisfy constraint:"
            f" Member must have length between 33 and 256 (got {len(session_id)})",
            field="runtimeSessionId",
        )
    state = emu.agentcore
    runtime, problem = state.find(arn)
    if problem is not None:
        return problem
    status = str(runtime.status)
    if status in ("CREATING", "UPDATING"):
        return _error("RetryableConflictException", f"Agent runtime {runtime.agent_runtime_id} is {status}.")
    if status != "READY":
        return _validation(
            f"Agent runtime {runtime.agent_runtime_id} is {status}, not READY; it cannot be invoked.",
            field="agentRuntimeArn",
        )
    own = runtime.agent_runtime_id
    endpoints = {name for rid, name in state.backend.agent_runtime_endpoints if rid == own}
    if qualifier not in (None, "DEFAULT", *endpoints) and not (
        qualifier.isdigit() and 1 <= int(qualifier) <= int(runtime.agent_runtime_version)
    ):
        return _error(
            "ResourceNotFoundException",
            f"No endpoint or version '{qualifier}' for agent runtime {runtime.agent_runtime_id}.",
        )
    prompt = _prompt(request.body)
    tags = state.backend.list_tags_for_resource(runtime.agent_runtime_arn) or {}
    turn = Turn(
        prompt=prompt,
        messages=(Message(role="user", content=prompt),),
        step=headers.get(f"{tag}step"),
        agent=headers.get(f"{tag}agent") or tags.get("podium:agent") or runtime.agent_runtime_name,
        run_id=headers.get(f"{tag}run"),
        session_id=session_id,
    )
    detail.update(step=turn.step, agent=turn.agent, input=prompt)
    try:
        answer = emu.brain.answer(turn)
    except StepError as exc:
        return _brain_error(exc)
    state.record(session_id, arn, user, {"input": prompt, "reply": answer.text})
    usage = {"inputTokens": answer.usage.input_tokens, "outputTokens": answer.usage.output_tokens}
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    if state.usage:
        detail["usage"] = answer.usage.model_dump()
    reply_headers = {
        "x-amzn-RequestId": wire.request_id(),
        SESSION_HEADER: session_id,
    }
    if traceparent := headers.get("traceparent"):
        reply_headers["traceparent"] = traceparent
    accept = headers.get("accept") or ""
    if "application/json" in accept and "text/event-stream" not in accept:
        detail["reply"] = "json"
        body: dict[str, Any] = {"result": {"role": "assistant", "content": [{"text": answer.text}]}}
        if state.usage:
            body["usage"] = usage
        response = HttpResponse(
            200, {**reply_headers, "Content-Type": "application/json"}, json.dumps(body).encode()
        )
        return emu.reply_with(response, fault)
    detail["reply"] = "sse"
    frames = _sse_frames(answer.text, usage if state.usage else None)
    stream = emu.stream_with(frames, fault, corrupt=_corrupt, error=_stream_error)
    return HttpResponse(200, {**reply_headers, "Content-Type": "text/event-stream"}, stream)


def _prompt(body: bytes) -> str:
    """What the agent is asked: the payload's ``prompt`` (or input, message, query, text), else all of it."""
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if isinstance(payload, dict):
        for key in ("prompt", "input", "message", "query", "text"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return payload if isinstance(payload, str) else text


def _pieces(text: str) -> list[str]:
    """The reply in a few deltas, split after spaces (as a model streams it)."""
    words = re.findall(r"\S*\s*", text)
    words = [w for w in words if w]
    size = max(1, len(words) // 3)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)] or [""]


def _sse(value: Any) -> bytes:
    return f"data: {json.dumps(value)}\n\n".encode()


def _sse_frames(text: str, usage: dict[str, int] | None) -> Iterator[bytes]:
    yield _sse({"event": {"messageStart": {"role": "assistant"}}})
    for piece in _pieces(text):
        yield _sse({"event": {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}})
    yield _sse({"event": {"contentBlockStop": {"contentBlockIndex": 0}}})
    yield _sse({"event": {"messageStop": {"stopReason": "end_turn"}}})
    if usage is not None:
        yield _sse({"event": {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}}})


def _corrupt(frame: bytes) -> bytes:
    return frame[: len(frame) // 2] + b"\n\n"  # half an event: its JSON cut off


def _stream_error(fault: Fault) -> bytes:
    # what an agent built on the AgentCore SDK sends when its generator raises mid-stream
    return _sse({"error": fault.message or "Injected stream error.", "error_type": fault.code or "Exception"})


def _service_code(code: str | None) -> str | None:
    if not code:
        return None
    code = code[:1].upper() + code[1:]
    return code if code in ERRORS else None


def _error(code: str, message: str, *, retry_after: float | None = None, **extra: Any) -> HttpResponse:
    return wire.error_response(ERRORS.get(code, 500), code, message, retry_after=retry_after, **extra)


def _validation(message: str, *, field: str) -> HttpResponse:
    return _error(
        "ValidationException", message, reason="FieldValidationFailed",
        fieldList=[{"name": field, "message": message}],
    )  # fmt: skip


def _brain_error(exc: StepError) -> HttpResponse:
    """A scripted ``error:`` as the service's own error."""
    if exc.kind == "throttled":
        return _error("ThrottlingException", exc.message, retry_after=exc.retry_after)
    if exc.kind == "invalid_request":
        return _validation(exc.message + (f" ({exc.fix})" if exc.fix else ""), field="payload")
    if exc.kind == "auth":
        return _error("AccessDeniedException", exc.message)
    if exc.kind == "transient":
        return _error("InternalServerException", exc.message, retry_after=exc.retry_after)
    return _error("RuntimeClientError", f"Received error (500) from runtime: {exc.message}")


def _signed(request: HttpRequest) -> bool:
    return request.headers.get("authorization", "").startswith(("AWS4-HMAC-SHA256 ", "Bearer "))


def _missing_auth() -> HttpResponse:
    return wire.error_response(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
