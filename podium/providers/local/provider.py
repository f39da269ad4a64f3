"""LocalProvider: an agent as a python function, a scripted mock, or an OpenAI-compatible API.

A scripted mock may ask for the agent's tools (a reply with ``tool:``), as it does on an emulated
cloud: podium runs the tool (the kit's tool loop, the same as every cloud's) and the next reply of
the sequence answers, so a tool-using workflow runs the same locally.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import Field

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Provider,
    ProviderConfig,
    ProviderEnv,
    Usage,
)
from podium.core.errors import (
    AgentFailed,
    AuthError,
    CallTimeout,
    InvalidRequest,
    StepError,
    Throttled,
    ToolApprovalNeeded,
    TransientError,
)
from podium.providers._kit.errors import ErrorTable, retry_after_from, shown_url
from podium.providers._kit.functions import (
    FunctionCache,
    FunctionThreads,
    accepted_kwargs,
    user_traceback,
    what_it_did,
)
from podium.providers._kit.propagation import call_headers
from podium.providers._kit.scripted import (
    Script,
    raise_scripted_error,
    reply_text,
    usage_for,
)
from podium.providers._kit.tools import Toolbox

if TYPE_CHECKING:  # httpx (and the CLI it imports) only for an endpoint agent: ~6 MiB a run
    import httpx

_ONE_CALL = Usage()  # what a function call used: one request, no tokens (frozen: shared)


class _Function(NamedTuple):
    """A python agent's function, as its calls need it: whether it is a coroutine function (awaited
    in place), and its `bound_to`."""

    fn: Callable[..., Any]
    is_async: bool
    bound: dict[str, str]


class LocalConfig(ProviderConfig):
    """Settings under `providers.local:`."""

    base_url: str | None = Field(
        None, description="An OpenAI-compatible API (…/v1) for agents with no function or mock."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")
    use_mock: bool = Field(True, description="Answer from the workflow's mock: section when it has a reply.")
    request_timeout: float = Field(
        120.0, gt=0, description="Seconds an OpenAI-compatible endpoint may take to answer."
    )


class LocalProvider(Provider):
    """In-process agents: no cloud, no credentials. Also podium's fallback when a cloud fails."""

    name: ClassVar[str] = "local"
    Config = LocalConfig
    description: ClassVar[str] = "python functions, scripted mock replies, OpenAI-compatible APIs"

    def __init__(
        self,
        config: LocalConfig,
        env: ProviderEnv,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, env)
        self.config: LocalConfig = config
        self.script = Script(env.mock)
        self._functions = FunctionCache(env.base_dir)
        self._known_functions: dict[str, _Function] = {}
        # plain functions and tools run on reused threads: as many as calls this provider may have
        # in flight (the run's limit, or the provider's own if lower), so none waits for a thread
        limit = min(config.concurrency or env.concurrency, env.concurrency)
        self.threads = FunctionThreads(limit, name="local-fn")
        self.tools = Toolbox(env.base_dir, provider=self.name)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        if request.function:
            return await self._call_function(request)
        key = self.script.key_for(request) if self.config.use_mock else None
        if key is not None:
            return await self._scripted(request, key)
        if self.config.base_url:
            return await self._chat(request)
        raise InvalidRequest(
            f"agent '{request.agent}' has no function, no mock reply and no endpoint on provider local",
            fix=f"add a reply under mock: (keyed '{request.step}' or '{request.agent}'), give the"
            " agent a function:, or set providers.local.base_url to an OpenAI-compatible API",
            provider=self.name,
        )

    def sends_traceparent(self, request: AgentRequest) -> bool:
        """A python function's call sends nothing anywhere (an endpoint's or a mock's is traced)."""
        return not request.function

    # --- python callables -------------------------------------------------------------------

    def _function(self, reference: str) -> Any:
        try:
            return self._functions.load(reference)
        except Exception as exc:
            raise InvalidRequest(f"cannot load function '{reference}': {exc}", provider=self.name) from None

    def _known(self, reference: str) -> _Function:
        """The function `reference` names, with what each of its calls asks of it, worked out once."""
        known = self._known_functions.get(reference)
        if known is None:
            fn = self._function(reference)
            known = self._known_functions[reference] = _Function(
                fn,
                inspect.iscoroutinefunction(fn),
                {"kind": "function", "id": reference, "via": "function"},
            )
        return known

    async def _call_function(self, request: AgentRequest) -> AgentResponse:
        fn, is_async, bound = self._known(request.function or "")
        context = request.context
        prompt = context.get("prompt", request.prompt)
        kwargs = accepted_kwargs(fn, context)  # (a new dict)
        kwargs.pop("prompt", None)  # given as the first argument
        started = time.perf_counter()
        try:
            # an `async def` awaited here; anything else on the provider's threads
            value = await fn(prompt, **kwargs) if is_async else await self.threads.call(fn, prompt, **kwargs)
        except StepError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt) and is_async:
                raise  # awaited on the loop: it may be the person's Ctrl-C, not the function's
            # sys.exit() in a function ends the step, not podium (and leaves no run "cancelled")
            error = AgentFailed(
                f"{request.function} {what_it_did(exc)}",
                fix="fix the function (raise an exception rather than exit), or raise"
                " podium.core.errors.TransientError to have it retried",
                provider=self.name,
            )
            error.traceback = user_traceback(exc)
            raise error from None
        latency = (time.perf_counter() - started) * 1000
        if isinstance(value, AgentResponse):
            return value if value.bound_to else value.model_copy(update={"bound_to": dict(bound)})
        if isinstance(value, str):
            return AgentResponse(text=value, usage=_ONE_CALL, latency_ms=latency, bound_to=bound)
        return AgentResponse(output=value, usage=_ONE_CALL, latency_ms=latency, bound_to=bound)

    # --- scripted replies -------------------------------------------------------------------

    async def _scripted(self, request: AgentRequest, key: str) -> AgentResponse:
        usage = Usage(requests=0)
        tool_calls: list[dict[str, Any]] = []
        tools = self.tools.loop(
            request, loop=asyncio.get_running_loop(), where=f"mock.{key} (agent '{request.agent}')"
        )
        latency = 0.0
        start = self.script.positions.get(key, 0)
        while True:
            reply = self.script.next_reply(key, request.messages[-1].content)
            latency += reply.latency
            if reply.latency:
                await asyncio.sleep(reply.latency)
            raise_scripted_error(reply, self.name)
            if reply.tool is None:
                break
            asked = json.dumps(reply.tool.model_dump(), ensure_ascii=False)
            usage = usage + usage_for(reply, request, asked)
            tools.round(usage)
            # the tool runs off the loop (it may block), as it does in a cloud provider's worker thread
            try:
                done = await self.threads.run(tools.run, reply.tool.name, dict(reply.tool.input))
            except ToolApprovalNeeded:
                # the call is made again once a person decides: the script answers it from where
                # this call began, as the same agent asked the same thing would (`run --wait` too)
                self.script.positions[key] = start
                raise
            tool_calls.append(done.record())
        text = reply_text(reply)
        native: dict[str, Any] = {"mock": key}
        if tool_calls:
            native["tool_calls"] = tool_calls
        return AgentResponse(
            text=text,
            usage=usage + usage_for(reply, request, text),
            model=request.model,
            latency_ms=latency * 1000,
            native=native,
            bound_to={"kind": "mock", "id": key, "via": "mock"},
        )

    # --- OpenAI-compatible chat completions -------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            headers = {}
            key = os.environ.get(self.config.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._client = httpx.AsyncClient(
                base_url=(self.config.base_url or "").rstrip("/"),
                headers=headers,
                timeout=self.config.request_timeout,
                transport=self._transport,
            )
        return self._client

    @property
    def _where(self) -> str:
        """The endpoint as messages and `show` name it: the URL without its user and password."""
        return shown_url(self.config.base_url)

    async def _chat(self, request: AgentRequest) -> AgentResponse:
        messages: list[dict[str, str]] = []
        if request.instructions:
            messages.append({"role": "system", "content": request.instructions})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        body: dict[str, Any] = {"model": request.model, "messages": messages, **request.options}
        started = time.perf_counter()
        import httpx

        try:
            response = await self._http().post(
                "/chat/completions",
                json=body,
                # the call's traceparent too: a traced endpoint (vLLM, a gateway) joins the run's trace
                headers={"Idempotency-Key": request.idempotency_key, **call_headers(request)},
            )
        except httpx.TimeoutException as exc:
            raise CallTimeout(f"{self._where} timed out: {exc}", provider=self.name) from None
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {self._where}: {exc}", provider=self.name) from None
        latency = (time.perf_counter() - started) * 1000
        _raise_for_status(response, self._where, self.name)
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError(
                f"{self._where} sent a malformed reply: {response.text[:120]!r}",
                provider=self.name,
            ) from None
        usage = data.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return AgentResponse(
            text=text,
            usage=Usage(
                input_tokens=max(0, int(usage.get("prompt_tokens") or 0) - int(cached)),
                output_tokens=int(usage.get("completion_tokens") or 0),
                cache_read_tokens=int(cached),
            ),
            model=data.get("model") or request.model,
            latency_ms=latency,
            response_id=data.get("id"),
            bound_to={"kind": "model", "id": str(request.model), "via": self._where},
        )

    async def aclose(self) -> None:
        self.threads.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_WORDS = {
    Throttled: "throttled the call",
    AuthError: "refused the credentials",
    TransientError: "failed",
    InvalidRequest: "rejected the request",
}


def _raise_for_status(response: httpx.Response, url: str, provider: str) -> None:
    status = response.status_code
    if status < 400:
        return
    # 408 is the endpoint giving up on a slow request: worth another try, like a 5xx
    table = ErrorTable.of(provider, timeout_statuses=(), transient_statuses=(408,))
    kind = table.kind(status=status)
    text = f"{url} {_WORDS[kind]} ({status}): {response.text[:200]}"
    fix = None
    if kind is AuthError:
        # an auth failure's body is never kept: endpoints echo the key or token they refused
        text = f"{url} {_WORDS[kind]} ({status} {response.reason_phrase or ''})".replace(" )", ")")
        fix = "set the API key in the environment variable named by providers.local.api_key_env"
    raise table.classify(text, status=status, retry_after=retry_after_from(response.headers), fix=fix)
