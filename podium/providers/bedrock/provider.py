"""BedrockProvider: a managed Bedrock agent through InvokeAgent, or a Bedrock model through Converse.

An agent runs as a **managed agent** when its ``bedrock:`` binding names ``agent_id`` (and
``alias_id``; without one, the draft's test alias ``TSTALIASID``), or when ``podium deploy`` recorded
one for it in ``podium-lock.json`` for this region and endpoint. Otherwise it runs as a **model**:
``bedrock: {model: …}`` or the agent's ``model:`` (through ``providers.bedrock.models`` aliases) is
sent to Converse with the agent's instructions as the system prompt.

boto3 is synchronous: each call, event stream included, runs in a thread of the provider's own
pool (sized like its connection pool), so that thousands of concurrent steps do not queue behind
asyncio's small default pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podium.core.calls import AgentRequest, AgentResponse, Provider, ProviderConfig, ProviderEnv, Usage
from podium.core.errors import AgentFailed, InvalidRequest, StepError, TransientError
from podium.core.functions import import_function
from podium.providers.bedrock.errors import PROVIDER, REGION_FIX, to_podium

if TYPE_CHECKING:
    from podium.core.spec import Workflow

TEST_ALIAS_ID = "TSTALIASID"
MAX_TOOL_ROUNDS = 10  # InvokeAgent calls per request while the agent keeps returning control
_SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")
_METADATA_VALUE = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.-]")


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("the bedrock provider needs boto3: pip install 'podium[bedrock]'") from None
    return boto3


class BedrockConfig(ProviderConfig):
    """Settings under `providers.bedrock:`."""

    region: str | None = Field(None, description="AWS region (else AWS_REGION or the profile's).")
    profile: str | None = Field(None, description="A profile from ~/.aws/config (else AWS_PROFILE).")
    endpoint_url: str | None = Field(
        None, description="Another endpoint for all Bedrock services (an emulator)."
    )
    aws_access_key_id: str | None = Field(
        None,
        description="Only for emulators and tests (dummy values); real keys belong in a profile"
        " or the environment.",
    )
    aws_secret_access_key: str | None = Field(None, description="Only for emulators and tests, as above.")
    max_attempts: int = Field(
        1,
        ge=1,
        le=20,
        description="Attempts botocore makes per call, the first included. podium's own retry policy"
        " (visible in the run's events, honouring fallback) retries beyond it.",
    )
    retry_mode: Literal["standard", "adaptive", "legacy"] = "standard"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(300.0, gt=0, description="Seconds of silence before a call times out.")
    max_connections: int = Field(64, ge=1, description="Connections (and threads) per Bedrock service.")
    agent_role_arn: str | None = Field(
        None, description="podium deploy: the IAM role the managed agents run as."
    )
    alias_name: str = Field("podium", description="podium deploy: the alias it creates and moves.")
    idle_session_ttl: int = Field(600, ge=60, le=3600, description="podium deploy: agents' session TTL.")


class BedrockBinding(BaseModel):
    """An agent's ``bedrock:`` section: a managed agent (agent_id, alias_id) or a model id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str | None = Field(
        None, pattern=r"^[0-9a-zA-Z]{10}$", description="A managed Bedrock agent's id (ten characters)."
    )
    alias_id: str | None = Field(
        None,
        pattern=r"^[0-9a-zA-Z]{10}$",
        description="The agent alias to invoke; TSTALIASID (the working draft) when omitted.",
    )
    model: str | None = Field(None, description="A Bedrock model id, called with Converse.")


@dataclass(frozen=True, slots=True)
class ManagedAgent:
    agent_id: str
    alias_id: str
    source: str  # "binding" or the lock file's path


@dataclass(frozen=True, slots=True)
class Model:
    model_id: str


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


def _tag(value: str) -> str:
    return _METADATA_VALUE.sub("_", value)[:256]


def _jsonable(value: Any) -> Any:
    """A parsed botocore structure as plain JSON values (timestamps as ISO text, bytes dropped)."""
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


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


def _await(awaitable: Any, loop: asyncio.AbstractEventLoop | None) -> Any:
    """An async tool's result: awaited on the run's own loop (this is one of the pool's threads)."""
    if loop is None:
        return asyncio.run(awaitable)
    return asyncio.run_coroutine_threadsafe(awaitable, loop).result()


def _fix_for(request: AgentRequest, target: ManagedAgent | Model | None) -> str | None:
    """What to do about a request Bedrock rejected, where podium can tell."""
    if isinstance(target, Model) and "." not in target.model_id and not target.model_id.startswith("arn:"):
        return (
            f"'{target.model_id}' looks like a logical model name: map it to a Bedrock model id under"
            f" providers.bedrock.models (e.g. {target.model_id}: us.anthropic.claude-haiku-4-5-20251001-v1:0)"
        )
    if isinstance(target, ManagedAgent) and target.source != "binding":
        return (
            f"the agent recorded in {target.source} is gone: run podium deploy FILE --provider bedrock again"
        )
    if isinstance(target, ManagedAgent):
        return f"check agents.{request.agent}.bedrock.agent_id and alias_id against the Bedrock console"
    return None


class BedrockProvider(Provider):
    """AWS Bedrock: managed agents through InvokeAgent, models through Converse (boto3)."""

    name: ClassVar[str] = "bedrock"
    Config = BedrockConfig
    Binding: ClassVar[type[BedrockBinding]] = BedrockBinding
    description: ClassVar[str] = "AWS Bedrock: managed agents (InvokeAgent) and models (Converse)"

    def __init__(self, config: BedrockConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.config: BedrockConfig = config
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._deployed: dict[str, dict[str, Any]] | None = None
        self._tools: dict[str, Callable[..., Any]] = {}

    # --- boto3 --------------------------------------------------------------------------------

    def session(self) -> Any:
        """The boto3 Session for this provider's profile, region and (emulator) keys."""
        with self._lock:
            if self._session is None:
                boto3 = _boto3()
                cfg = self.config
                self._session = boto3.session.Session(
                    profile_name=cfg.profile,
                    region_name=cfg.region,
                    aws_access_key_id=cfg.aws_access_key_id,
                    aws_secret_access_key=cfg.aws_secret_access_key,
                )
            return self._session

    @property
    def region(self) -> str | None:
        return self.config.region or self.session().region_name

    def client(self, service: str) -> Any:
        """A botocore client for `service` (bedrock-agent-runtime, bedrock-runtime, bedrock-agent)."""
        session = self.session()
        with self._lock:
            if service not in self._clients:
                from botocore.config import Config as BotoConfig

                region = self.config.region or session.region_name
                if not region:
                    raise InvalidRequest(
                        "no AWS region is configured for provider bedrock", fix=REGION_FIX, provider=PROVIDER
                    )
                cfg = self.config
                self._clients[service] = session.client(
                    service,
                    region_name=region,
                    endpoint_url=cfg.endpoint_url,
                    config=BotoConfig(
                        retries={"total_max_attempts": cfg.max_attempts, "mode": cfg.retry_mode},
                        connect_timeout=cfg.connect_timeout,
                        read_timeout=cfg.read_timeout,
                        max_pool_connections=cfg.max_connections,
                        user_agent_extra="podium",
                    ),
                )
            return self._clients[service]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.config.max_connections, thread_name_prefix="podium-bedrock")
        return self._pool

    # --- bindings -----------------------------------------------------------------------------

    def binding(self, request: AgentRequest) -> BedrockBinding:
        """The agent's ``bedrock:`` section, checked; an unusable one is an InvalidRequest naming the fix."""
        try:
            binding = BedrockBinding.model_validate(request.binding or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'binding'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidRequest(
                f"agents.{request.agent}.bedrock is not a valid Bedrock binding ({problems})",
                fix="write it as bedrock: {agent_id: ABCDEFGHIJ, alias_id: KLMNOPQRST},"
                " or bedrock: {model: <model id>}",
                provider=PROVIDER,
            ) from None
        if binding.alias_id and not binding.agent_id:
            raise InvalidRequest(
                f"agents.{request.agent}.bedrock has alias_id {binding.alias_id} but no agent_id",
                fix="add the agent's id: bedrock: {agent_id: <ten-character id>,"
                f" alias_id: {binding.alias_id}}}",
                provider=PROVIDER,
            )
        return binding

    def deployed(self) -> dict[str, dict[str, Any]]:
        """Agents `podium deploy` recorded for this workflow, region and endpoint (read once)."""
        if self._deployed is None:
            from podium.providers.bedrock.lock import deployed_agents

            self._deployed = deployed_agents(
                self.env.base_dir,
                self.env.workflow,
                region=self.region,
                endpoint_url=self.config.endpoint_url,
            )
        return self._deployed

    def target(self, request: AgentRequest) -> ManagedAgent | Model:
        """What a request runs on: a managed agent (binding, else lock file) or a model."""
        binding = self.binding(request)
        if binding.agent_id:
            return ManagedAgent(binding.agent_id, binding.alias_id or TEST_ALIAS_ID, "binding")
        deployed = self.deployed().get(request.agent)
        if deployed and deployed.get("agent_id"):
            from podium.providers.bedrock.lock import LOCK_FILE

            return ManagedAgent(
                str(deployed["agent_id"]), str(deployed.get("alias_id") or TEST_ALIAS_ID), LOCK_FILE
            )
        model = binding.model or request.model
        if model:
            return Model(model)
        raise InvalidRequest(
            f"agent '{request.agent}' has neither a Bedrock agent_id nor a model",
            fix=f"give agents.{request.agent} a model: (a Bedrock model id, or an alias under"
            f" providers.bedrock.models), or bind a managed agent with bedrock: {{agent_id: …, alias_id: …}},"
            " or create one with: podium deploy FILE --provider bedrock",
            provider=PROVIDER,
        )

    # --- calls --------------------------------------------------------------------------------

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        self.binding(request)  # a bad binding fails here, before any thread or client
        loop = asyncio.get_running_loop()
        streams: list[Any] = []
        try:
            return await loop.run_in_executor(
                self._executor(), functools.partial(self._call, request, streams, loop)
            )
        except asyncio.CancelledError:
            # a step timeout or a cancelled run: close the event stream so the thread reading it ends
            for stream in streams:
                with contextlib.suppress(Exception):
                    stream.close()
            raise

    def _call(
        self, request: AgentRequest, streams: list[Any], loop: asyncio.AbstractEventLoop | None = None
    ) -> AgentResponse:
        where = f"bedrock agent '{request.agent}'"
        target: ManagedAgent | Model | None = None
        try:
            target = self.target(request)
            if isinstance(target, ManagedAgent):
                where = f"bedrock InvokeAgent {target.agent_id}/{target.alias_id} (agent '{request.agent}')"
                return self._invoke_agent(request, target, streams, loop)
            where = f"bedrock Converse {target.model_id} (agent '{request.agent}')"
            return self._converse(request, target)
        except StepError:
            raise
        except Exception as exc:
            error = to_podium(exc, where)
            if isinstance(error, InvalidRequest) and error.fix is None:
                error.fix = _fix_for(request, target)
            raise error from None

    def _tags(self, request: AgentRequest) -> dict[str, str]:
        return {
            "podium:run": _tag(request.run_id),
            "podium:step": _tag(request.step),
            "podium:agent": _tag(request.agent),
        }

    def _invoke_agent(
        self,
        request: AgentRequest,
        target: ManagedAgent,
        streams: list[Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> AgentResponse:
        """InvokeAgent, and again with each tool's result while the agent returns control (at most
        `MAX_TOOL_ROUNDS` rounds); usage, traces and tool calls are gathered over all rounds."""
        client = self.client("bedrock-agent-runtime")
        session_id = session_id_for(request.session_id)
        started = time.perf_counter()
        tags = self._tags(request)
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
        while True:
            rounds += 1
            reply = client.invoke_agent(
                agentId=target.agent_id,
                agentAliasId=target.alias_id,
                sessionId=session_id,
                enableTrace=True,
                **kwargs,
            )
            streams.append(reply["completion"])
            returned: list[dict[str, Any]] = []
            for event in reply["completion"]:
                if "chunk" in event:
                    chunk = event["chunk"]
                    parts.append(bytes(chunk.get("bytes") or b"").decode("utf-8", errors="replace"))
                    citations.extend((chunk.get("attribution") or {}).get("citations") or [])
                elif "trace" in event:
                    part = event["trace"]
                    traces.append(_jsonable(part))
                    more_in, more_out, named = _trace_usage(part)
                    input_tokens += more_in
                    output_tokens += more_out
                    model = model or named
                elif "returnControl" in event:
                    returned.append(_jsonable(event["returnControl"]))
                elif "files" in event:
                    files.extend(_jsonable((event["files"] or {}).get("files") or []))
            controls.extend(returned)
            if parts or not returned:
                break
            if rounds >= MAX_TOOL_ROUNDS:
                raise AgentFailed(
                    f"bedrock agent {target.agent_id} (agent '{request.agent}') still asked for tools after"
                    f" {MAX_TOOL_ROUNDS} rounds of returned control, without a final answer",
                    fix="check the agent's instructions and the tools' results: it should answer once it"
                    " has what it needs",
                    provider=PROVIDER,
                )
            control = returned[-1]
            results = [
                self._run_tool(request, target, item, tool_calls, loop)
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
                native[key] = _jsonable(values)
        return AgentResponse(
            text="".join(parts),
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, requests=rounds),
            model=model or request.model,
            latency_ms=latency,
            response_id=reply.get("ResponseMetadata", {}).get("RequestId"),
            session_id=native["session_id"],
            native=native,
        )

    def _tool(self, request: AgentRequest, name: str) -> tuple[str, Callable[..., Any]] | None:
        """The callable declared under the agent's ``tools:`` for `name`, or None when undeclared."""
        reference = request.tools.get(name)
        if reference is None:
            return None
        with self._lock:
            fn = self._tools.get(reference)
        if fn is None:
            try:
                fn = import_function(reference, self.env.base_dir)
            except Exception as exc:
                raise InvalidRequest(
                    f"cannot load tool '{name}' ({reference}) of agent '{request.agent}':"
                    f" {type(exc).__name__}: {exc}",
                    fix=f"check agents.{request.agent}.tools.{name}",
                    provider=PROVIDER,
                ) from None
            with self._lock:
                self._tools[reference] = fn
        return reference, fn

    def _run_tool(
        self,
        request: AgentRequest,
        target: ManagedAgent,
        item: Mapping[str, Any],
        tool_calls: list[dict[str, Any]],
        loop: asyncio.AbstractEventLoop | None,
    ) -> dict[str, Any]:
        """Run one returned-control function invocation; its result in the shape InvokeAgent takes."""
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
        found = self._tool(request, function) or self._tool(request, f"{group}.{function}")
        if found is None:
            raise InvalidRequest(
                f"bedrock agent {target.agent_id} (agent '{request.agent}') returned control to call"
                f" '{function}' (action group '{group}'), which agents.{request.agent}.tools"
                " does not declare",
                fix=f"declare it under the agent's tools: (tools: {{{function}: module:function}}),"
                " or give the action group a Lambda executor",
                provider=PROVIDER,
            )
        reference, fn = found
        arguments = {
            str(p.get("name")): _parameter_value(p)
            for p in invocation.get("parameters") or []
            if p.get("name")
        }
        try:
            if inspect.iscoroutinefunction(fn):
                result = _await(fn(**arguments), loop)
            else:
                result = fn(**arguments)  # already in a thread of the provider's pool
                if inspect.isawaitable(result):
                    result = _await(result, loop)
        except StepError:
            raise
        except Exception as exc:
            raise AgentFailed(
                f"tool '{function}' ({reference}) of agent '{request.agent}' raised"
                f" {type(exc).__name__}: {exc}",
                fix="fix the tool, or raise podium.core.errors.TransientError from it to have the step"
                " retried",
                provider=PROVIDER,
            ) from exc
        body = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
        tool_calls.append(
            {
                "name": function,
                "action_group": group,
                "arguments": arguments,
                "result": result if isinstance(result, str) else json.loads(body),
            }
        )
        return {
            "functionResult": {
                "actionGroup": group,
                "function": function,
                "responseBody": {"TEXT": {"body": body}},
            }
        }

    def _converse(self, request: AgentRequest, target: Model) -> AgentResponse:
        client = self.client("bedrock-runtime")
        kwargs: dict[str, Any] = {
            "modelId": target.model_id,
            "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in request.messages],
            "requestMetadata": self._tags(request),
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
        started = time.perf_counter()
        reply = client.converse(**kwargs)
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
            native=_jsonable(
                {
                    "model_id": target.model_id,
                    "stop_reason": reply.get("stopReason"),
                    "metrics": reply.get("metrics") or {},
                }
            ),
        )

    async def aclose(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # --- deploy and emulate -------------------------------------------------------------------

    def deploy(self, workflow: Workflow, *, echo: Any = None) -> list[dict[str, Any]]:
        """Create or update the workflow's managed agents and record them in ``podium-lock.json``.

        Returns one row per agent (name, agent_id, alias_id, version, action). See
        `podium.providers.bedrock.deploy`.
        """
        from podium.providers.bedrock.deploy import deploy_workflow

        return deploy_workflow(self, workflow, echo=echo)

    @classmethod
    @contextmanager
    def emulator(cls, env: ProviderEnv) -> Iterator[Mapping[str, Any]]:  # type: ignore[override]
        """Bedrock's emulator on 127.0.0.1, its brain the workflow's mock replies; yields the settings."""
        from podium.providers.bedrock.emulator import emulate

        with emulate(env.mock) as running:
            yield running.settings()
