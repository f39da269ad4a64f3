"""LocalProvider: an agent as a python function, a scripted mock, or an OpenAI-compatible API."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
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
    TransientError,
)
from podium.providers.local.scripted import (
    Script,
    raise_scripted_error,
    reply_text,
    usage_for,
)


class LocalConfig(ProviderConfig):
    """Settings under `providers.local:`."""

    base_url: str | None = Field(
        None, description="An OpenAI-compatible API (…/v1) for agents with no function or mock."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")
    use_mock: bool = Field(True, description="Answer from the workflow's mock: section when it has a reply.")
    request_timeout: float = Field(120.0, gt=0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


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
        self._functions: dict[str, Callable[..., Any]] = {}
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

    # --- python callables -------------------------------------------------------------------

    def _function(self, reference: str) -> Callable[..., Any]:
        if reference not in self._functions:
            from podium.core.functions import import_function

            try:
                self._functions[reference] = import_function(reference, self.env.base_dir)
            except Exception as exc:
                raise InvalidRequest(
                    f"cannot load function '{reference}': {exc}", provider=self.name
                ) from None
        return self._functions[reference]

    async def _call_function(self, request: AgentRequest) -> AgentResponse:
        fn = self._function(request.function or "")
        context = dict(request.context)
        prompt = context.pop("prompt", request.prompt)
        kwargs = _accepted_kwargs(fn, context)
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(fn):
                value = await fn(prompt, **kwargs)
            else:
                value = await _in_daemon_thread(fn, prompt, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
        except StepError:
            raise
        except Exception as exc:
            raise AgentFailed(
                f"{request.function} raised {type(exc).__name__}: {exc}",
                fix="fix the function, or raise podium.core.errors.TransientError to have it retried",
                provider=self.name,
            ) from exc
        latency = (time.perf_counter() - started) * 1000
        if isinstance(value, AgentResponse):
            return value
        if isinstance(value, str):
            return AgentResponse(text=value, usage=Usage(), latency_ms=latency)
        return AgentResponse(output=value, usage=Usage(), latency_ms=latency)

    # --- scripted replies -------------------------------------------------------------------

    async def _scripted(self, request: AgentRequest, key: str) -> AgentResponse:
        reply = self.script.next_reply(key, request.messages[-1].content)
        if reply.latency:
            await asyncio.sleep(reply.latency)
        raise_scripted_error(reply, self.name)
        if reply.tool is not None:
            raise InvalidRequest(
                f"mock.{key} asks for the tool '{reply.tool.name}', which the local provider does not run",
                fix="run the step on an emulated bedrock agent (podium run --emulate), or script its text",
                provider=self.name,
            )
        text = reply_text(reply)
        return AgentResponse(
            text=text,
            usage=usage_for(reply, request, text),
            model=request.model,
            latency_ms=reply.latency * 1000,
            native={"mock": key},
        )

    # --- OpenAI-compatible chat completions -------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
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

    async def _chat(self, request: AgentRequest) -> AgentResponse:
        messages: list[dict[str, str]] = []
        if request.instructions:
            messages.append({"role": "system", "content": request.instructions})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        body: dict[str, Any] = {"model": request.model, "messages": messages, **request.options}
        started = time.perf_counter()
        try:
            response = await self._http().post(
                "/chat/completions",
                json=body,
                headers={"Idempotency-Key": request.idempotency_key},
            )
        except httpx.TimeoutException as exc:
            raise CallTimeout(f"{self.config.base_url} timed out: {exc}", provider=self.name) from None
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {self.config.base_url}: {exc}", provider=self.name) from None
        latency = (time.perf_counter() - started) * 1000
        _raise_for_status(response, self.config.base_url or "", self.name)
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError(
                f"{self.config.base_url} sent a malformed reply: {response.text[:120]!r}",
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
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _raise_for_status(response: httpx.Response, url: str, provider: str) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = response.text[:200]
    if status == 429:
        raise Throttled(
            f"{url} throttled the call (429): {detail}",
            retry_after=_retry_after(response),
            provider=provider,
        )
    if status in (401, 403):
        raise AuthError(
            f"{url} refused the credentials ({status}): {detail}",
            fix="set the API key in the environment variable named by providers.local.api_key_env",
            provider=provider,
        )
    if status == 408 or status >= 500:
        raise TransientError(
            f"{url} failed ({status}): {detail}",
            retry_after=_retry_after(response),
            provider=provider,
        )
    raise InvalidRequest(f"{url} rejected the request ({status}): {detail}", provider=provider)


async def _in_daemon_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking function in a daemon thread and await its result.

    Not `asyncio.to_thread`: the default executor's threads are joined when `asyncio.run` closes
    the loop (and again at interpreter exit), so a run cancelled while a function blocks would
    keep its process alive until the function returns. A daemon thread is abandoned instead.
    """
    import contextlib
    import contextvars
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def work() -> None:
        try:
            outcome = (True, ctx.run(fn, *args, **kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        # RuntimeError: the loop has closed, so nobody waits for this result any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"podium-fn-{getattr(fn, '__name__', 'fn')}", daemon=True).start()
    return await future


@functools.lru_cache(maxsize=1024)
def _keyword_names(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments `fn` accepts; None when it takes **kwargs (everything)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(params)


def _accepted_kwargs(fn: Callable[..., Any], context: dict[str, Any]) -> dict[str, Any]:
    names = _keyword_names(fn)
    if names is None:
        return context
    return {k: v for k, v in context.items() if k in names}
