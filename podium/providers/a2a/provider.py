"""The A2A provider: each step's call is an A2A `message/send` (a2a-sdk 1.x), its task followed to its end.

An agent's card is read once per run and kept. A step's messages share a context id made from the
run, step and item, so a re-issued call continues the same conversation; a call's message id is its
idempotency key, so a resume first looks for the task that message started (`tasks/list` by
context, then `tasks/get`) and follows it instead of sending the message again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Emulator,
    EmulatorOptions,
    Provider,
    ProviderConfig,
    ProviderEnv,
)
from podium.core.errors import (
    AuthError,
    CallTimeout,
    ExtraMissing,
    InvalidRequest,
    StepError,
    Throttled,
    TransientError,
)
from podium.providers.a2a.binding import (
    PROTOCOL_VERSIONS,
    TRANSPORTS,
    A2ABinding,
    A2AConfig,
    A2AEmulatorOptions,
)
from podium.providers.a2a.tasks import (
    WORKING,
    failure_of,
    message_response,
    question_of,
    response_of,
    state_of,
)

PROVIDER = "a2a"
INPUT_TOOL = "a2a:input"  # an agent's question, waiting for a person as a tool approval does
_SDK_BINDINGS = {v: k for k, v in TRANSPORTS.items()}  # the card's names → the binding's


def _sdk() -> None:
    try:
        import a2a.client  # noqa: F401
    except ImportError:
        raise ExtraMissing(
            "the a2a provider needs the a2a-sdk, which is not installed", fix="pip install 'podium[a2a]'"
        ) from None


def context_id(request: AgentRequest) -> str:
    """The A2A context a step's calls share: one per run, step and foreach item."""
    item = f"/{request.item}" if request.item is not None else ""
    return f"podium/{request.run_id}/{request.step}{item}"


class A2AProvider(Provider):
    """Agents that speak A2A, wherever they run: AgentCore, Agent Engine, Foundry, or anyone's server."""

    name: ClassVar[str] = "a2a"
    Config: ClassVar[type[ProviderConfig]] = A2AConfig
    Binding: ClassVar[type[A2ABinding]] = A2ABinding
    description: ClassVar[str] = "any Agent2Agent (A2A) agent: message/send, tasks/get (a2a-sdk)"
    binding_fix: ClassVar[str | None] = "write it as a2a: {url: https://agent.example.com}"
    emulator_options: ClassVar[type[EmulatorOptions] | None] = A2AEmulatorOptions
    asks_people: ClassVar[bool] = True  # an agent's input-required waits for a person (the tool log)

    def __init__(self, config: ProviderConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.settings: A2AConfig = config  # type: ignore[assignment]
        self._cards: dict[tuple[str, str], Any] = {}
        self._clients: dict[tuple[str, str | None, str], tuple[Any, Any]] = {}
        self._no_listing: set[tuple[str, int]] = set()

    # --- one call -----------------------------------------------------------------------------

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        binding: A2ABinding = self.binding(request)  # type: ignore[assignment]
        _sdk()
        if self.settings.endpoint_url:  # the emulator: every agent at its own path, no credentials
            url = f"{self.settings.endpoint_url.rstrip('/')}/agents/{request.agent}"
            binding = binding.model_copy(update={"url": url, "auth": None})
        where = f"a2a agent '{request.agent}' at {binding.url}"
        try:
            client = await self._client(request, binding, where)
            from a2a.client import ClientCallContext

            headers = {"traceparent": request.traceparent} if request.traceparent else {}
            context = ClientCallContext(service_parameters=headers, timeout=request.timeout)
            task = await self._started_before(client, request, context)
            if task is None:
                answer = await self._send(client, request, context)
                if answer.HasField("message"):
                    return message_response(answer.message, model=request.model)
                task = answer.task
            while True:
                task = await self._follow(client, task, context)
                if state_of(task) == "completed":
                    return response_of(task, model=request.model)
                if state_of(task) != "input-required" or request.tool_log is None:
                    raise failure_of(task, where)
                reply = self._answer(request, task, where)
                answer = await self._send(client, request, context, text=reply, task=task)
                if answer.HasField("message"):
                    return message_response(answer.message, model=request.model)
                task = answer.task
        except StepError:
            raise
        except Exception as exc:
            raise self._to_podium(exc, where) from None

    async def _follow(self, client: Any, task: Any, context: Any) -> Any:
        """The task once it is no longer submitted or working (`tasks/get` every poll_interval)."""
        from a2a.types import GetTaskRequest

        while state_of(task) in WORKING:
            await asyncio.sleep(self.settings.poll_interval)
            task = await client.get_task(GetTaskRequest(id=task.id), context=context)
        return task

    def _answer(self, request: AgentRequest, task: Any, where: str) -> str:
        """A person's answer to the agent's question (input-required), or the wait for one.

        The question becomes an approval request on the step (`podium approve RUN STEP --comment
        "the answer"`, or `--field` values); the run waits, and once it is decided the call is made
        again, finds this task, and sends the answer on it. A rejection ends the step.
        """
        from podium.core.errors import ApprovalRejected, ToolApprovalNeeded

        question = question_of(task)
        arguments = {"question": question}
        assert request.tool_log is not None
        decision = request.tool_log.decision(0, INPUT_TOOL, arguments)
        if decision is None:
            raise ToolApprovalNeeded(
                f"{where} asks: {question or '(no question given)'} — answer with podium approve RUN"
                f" {request.step} --comment '…' (or podium reject)",
                request={"name": INPUT_TOOL, "arguments": arguments, "item": request.item, "index": 0},
                provider=PROVIDER,
            )
        if decision.get("decision") != "approved":
            said = f": {decision.get('comment')}" if decision.get("comment") else ""
            raise ApprovalRejected(
                f"{decision.get('by') or 'a person'} declined to answer {where}{said}", provider=PROVIDER
            )
        if decision.get("comment"):
            return str(decision["comment"])
        fields = decision.get("fields") or {}
        return json.dumps(fields, ensure_ascii=False) if fields else "approved"

    async def _send(
        self, client: Any, request: AgentRequest, context: Any, *, text: str | None = None, task: Any = None
    ) -> Any:
        from a2a.types import Message, Part, Role, SendMessageRequest

        message = Message(
            role=Role.ROLE_USER,
            # the first message of a call is its idempotency key (a resume finds its task by it);
            # an answer to the agent's question, the key and the question's position
            message_id=request.idempotency_key if task is None else f"{request.idempotency_key}:{task.id}",
            context_id=context_id(request),
            task_id=task.id if task is not None else "",
            parts=[Part(text=text)]
            if text is not None
            else [Part(text=m.content) for m in request.messages[-1:]],
        )
        answers = [a async for a in client.send_message(SendMessageRequest(message=message), context=context)]
        answer = answers[-1] if answers else None
        if answer is None:
            raise TransientError("the agent sent no answer", provider=PROVIDER)
        return answer

    async def _started_before(self, client: Any, request: AgentRequest, context: Any) -> Any:
        """The task this call's message started before (a call re-issued by a resume), or None.

        Asked before every send: a call cannot tell whether a killed process sent it already. An
        agent that cannot list its tasks is asked once per run; its messages are then sent (at
        least once, as any provider's calls are).
        """
        key = (request.run_id, id(client))
        if key in self._no_listing:
            return None
        from a2a.types import ListTasksRequest
        from a2a.utils.errors import MethodNotFoundError, UnsupportedOperationError

        try:
            found = await client.list_tasks(
                ListTasksRequest(context_id=context_id(request), history_length=50), context=context
            )
        except (UnsupportedOperationError, MethodNotFoundError):
            self._no_listing.add(key)
            return None
        for task in found.tasks:
            if any(m.message_id == request.idempotency_key for m in task.history):
                return task
        # a call made again once a person answered the agent's question: that question's task
        if request.tool_log is not None:
            for task in reversed(found.tasks):
                if (
                    state_of(task) == "input-required"
                    and request.tool_log.decision(0, INPUT_TOOL, {"question": question_of(task)}) is not None
                ):
                    return task
        return None

    # --- cards and clients --------------------------------------------------------------------

    async def _client(self, request: AgentRequest, binding: A2ABinding, where: str) -> Any:
        key = (request.run_id, binding.url, binding.transport or "")
        if key in self._clients:
            return self._clients[key][0]
        import httpx
        from a2a.client import ClientConfig, ClientFactory

        from podium.providers.a2a.auth import auth_for

        http = httpx.AsyncClient(
            auth=auth_for(binding.auth, request.agent),
            timeout=httpx.Timeout(self.settings.read_timeout, connect=10),
        )
        try:
            card = await self._card(request, binding, http, where)
            chosen = self._transport(card, binding, where)
            config = ClientConfig(streaming=False, httpx_client=http, supported_protocol_bindings=[chosen])
            client = ClientFactory(config).create(card)
        except BaseException:
            await http.aclose()
            raise
        self._clients[key] = (client, http)
        return client

    async def _card(self, request: AgentRequest, binding: A2ABinding, http: Any, where: str) -> Any:
        key = (request.run_id, binding.url)
        if key in self._cards:
            return self._cards[key]
        from a2a.client import A2ACardResolver
        from a2a.client.errors import AgentCardResolutionError

        is_card = binding.url.endswith(".json") or "/.well-known/" in binding.url
        resolver = A2ACardResolver(http, binding.url)
        try:
            card = await resolver.get_agent_card(relative_card_path="/" if is_card else None)
        except AgentCardResolutionError as exc:
            status = getattr(exc, "status_code", None)
            if status in (401, 403):
                raise AuthError(
                    f"{where}: its agent card refused podium ({status})", provider=PROVIDER
                ) from None
            shown = "" if is_card else " at /.well-known/agent-card.json"
            raise InvalidRequest(
                f"{where} has no agent card{shown} ({exc})",
                fix="give the agent's base URL, or its card's URL (…/.well-known/agent-card.json)",
                provider=PROVIDER,
            ) from None
        versions = sorted({i.protocol_version or "1.0" for i in card.supported_interfaces})
        if versions and not set(versions) & set(PROTOCOL_VERSIONS):
            raise InvalidRequest(
                f"{where} speaks A2A {', '.join(versions)}; podium speaks A2A {', '.join(PROTOCOL_VERSIONS)}",
                fix="point the binding at an interface of a supported version",
                provider=PROVIDER,
            )
        self._cards[key] = card
        return card

    def _transport(self, card: Any, binding: A2ABinding, where: str) -> str:
        offered = [i.protocol_binding for i in card.supported_interfaces if (i.protocol_version or "1.0")
                   in PROTOCOL_VERSIONS]  # fmt: skip
        speakable = [t for t in offered if t in _SDK_BINDINGS and (t != "GRPC" or _has_grpc())]
        names = ", ".join(dict.fromkeys(offered)) or "none"
        if binding.transport is not None:
            wanted = TRANSPORTS[binding.transport]
            if wanted not in offered:
                raise InvalidRequest(
                    f"{where} does not serve {binding.transport} (its card offers: {names})",
                    fix="choose one the card offers, or leave transport: out",
                    provider=PROVIDER,
                )
            if wanted not in speakable:
                raise ExtraMissing("A2A over gRPC needs grpcio", fix="pip install 'a2a-sdk[grpc]'")
            return wanted
        if not speakable:
            raise InvalidRequest(
                f"{where} offers only transports podium cannot speak ({names});"
                f" podium speaks {', '.join(sorted(TRANSPORTS))}",
                provider=PROVIDER,
            )
        return speakable[0]

    # --- errors -------------------------------------------------------------------------------

    def _to_podium(self, exc: BaseException, where: str) -> StepError:
        import httpx
        from a2a.client.errors import A2AClientTimeoutError
        from a2a.utils.errors import A2AError

        cause = exc.__cause__
        if isinstance(exc, A2AClientTimeoutError | TimeoutError) or isinstance(cause, httpx.TimeoutException):
            return CallTimeout(f"{where} did not answer in time", provider=PROVIDER)
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            after = _retry_after(cause.response.headers.get("retry-after"))
            said = f"{where} answered HTTP {status}"
            if status == 429:
                return Throttled(said, retry_after=after, provider=PROVIDER)
            if status in (401, 403):
                return AuthError(said, fix="check the binding's auth: and its credentials", provider=PROVIDER)
            if status >= 500:
                return TransientError(said, retry_after=after, provider=PROVIDER)
            return InvalidRequest(said, provider=PROVIDER)
        if isinstance(cause, httpx.TransportError):
            return TransientError(f"{where}: {type(cause).__name__}: {cause}", provider=PROVIDER)
        if isinstance(exc, A2AError):
            return InvalidRequest(f"{where}: {exc}", provider=PROVIDER)
        return TransientError(f"{where}: {type(exc).__name__}: {exc}", provider=PROVIDER)

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        """Scripted A2A agents on 127.0.0.1 (not started), answering from `env`'s mock replies."""
        _sdk()
        from podium.providers.a2a.emulator import A2AEmulator

        return A2AEmulator(env.mock, port=port)  # type: ignore[return-value]

    async def aclose(self) -> None:
        for client, http in self._clients.values():
            try:
                await client.close()
            finally:
                await http.aclose()
        self._clients.clear()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _has_grpc() -> bool:
    import importlib.util

    return importlib.util.find_spec("grpc") is not None
