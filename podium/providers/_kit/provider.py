"""A cloud provider whose SDK blocks: each call in the provider's thread pool, the SDK's errors mapped
to podium's at the boundary, and the clients and threads released when the run ends.

A cloud subclasses `SdkProvider` and writes only what is its own: `target` (what a request runs
on), `describe` (how a call is named in its errors), `call` (the SDK calls and their translation),
`to_podium` (its error table) and `fix_for` (what to do about a request the service rejected).
Every HTTP request of a call must carry `SdkCall.headers` (the call's ``traceparent``): passed to
the SDK per request, or added by a hook of `podium.providers._kit.propagation` on the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

from podium.core.calls import AgentRequest, AgentResponse, Provider, ProviderConfig, ProviderEnv
from podium.core.errors import InvalidRequest, StepError
from podium.providers._kit.propagation import call_headers
from podium.providers._kit.threads import SdkCall, SdkThreads
from podium.providers._kit.tools import Toolbox


class SdkProvider(Provider):
    """The calling machinery every cloud shares; subclasses set `clients` and the methods below."""

    clients: Any  # the cloud's SDK clients for this provider instance; `close()` releases them
    pool_setting: ClassVar[str] = "max_connections"  # the setting that sizes the thread pool

    def __init__(self, config: ProviderConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.threads = SdkThreads(int(getattr(config, self.pool_setting, 16)), name=self.name)
        self.tools = Toolbox(env.base_dir, provider=self.name)

    def target(self, request: AgentRequest) -> Any:
        """What `request` runs on: a managed agent, a model, … (the cloud's own types)."""
        raise NotImplementedError

    def describe(self, request: AgentRequest, target: Any) -> str:
        """How a call to `target` is named in an error (`bedrock Converse <model> (agent 'w')`)."""
        return f"{self.name} agent '{request.agent}'"

    def call(self, request: AgentRequest, target: Any, call: SdkCall) -> AgentResponse:
        """The call itself, in a worker thread: the SDK's requests and the reply translated."""
        raise NotImplementedError

    def bound(self, target: Any) -> dict[str, str] | None:
        """What a call ran on, for people (`show`, `--json`): {"kind", "id", "via"}."""
        return None

    def to_podium(self, exc: BaseException, where: str) -> StepError:
        """The SDK's exception as podium's error (the cloud's error table)."""
        raise NotImplementedError

    def fix_for(self, request: AgentRequest, target: Any) -> str | None:
        """What to do about a request the service rejected, where the provider can tell."""
        return None

    def on_loop(self, request: AgentRequest) -> bool:
        """Whether `request` is served by `acall` on the event loop instead of `call` in a thread."""
        return False

    async def atarget(self, request: AgentRequest) -> Any:
        """`target`, for a call on the loop (override where resolving it may block)."""
        return self.target(request)

    async def acall(self, request: AgentRequest, target: Any) -> AgentResponse:
        """The call on the event loop, where `on_loop` says so: the requests and translation of `call`."""
        raise NotImplementedError

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        self.binding(request)  # a bad binding fails here, before any thread or client
        if self.on_loop(request):
            return await self._aguarded(request)
        # every request of the call carries its trace context: `call.headers`, or an SDK hook's
        return await self.threads.run(
            lambda call: self._guarded(request, call), headers=call_headers(request)
        )

    def _guarded(self, request: AgentRequest, call: SdkCall) -> AgentResponse:
        where = f"{self.name} agent '{request.agent}'"
        target: Any = None
        try:
            target = self.target(request)
            where = self.describe(request, target)
            return self._bound(self.call(request, target, call), target)
        except Exception as exc:
            raise self._failure(exc, where, request, target) from None

    async def _aguarded(self, request: AgentRequest) -> AgentResponse:
        where = f"{self.name} agent '{request.agent}'"
        target: Any = None
        try:
            target = await self.atarget(request)
            where = self.describe(request, target)
            return self._bound(await self.acall(request, target), target)
        except Exception as exc:
            raise self._failure(exc, where, request, target) from None

    def _bound(self, response: AgentResponse, target: Any) -> AgentResponse:
        if response.bound_to is None:
            response.bound_to = self.bound(target)
        return response

    def _failure(self, exc: Exception, where: str, request: AgentRequest, target: Any) -> StepError:
        error = exc if isinstance(exc, StepError) else self.to_podium(exc, where)
        if isinstance(error, InvalidRequest) and error.fix is None:
            error.fix = self.fix_for(request, target)
        return error

    async def aclose(self) -> None:
        self.clients.close()
        self.threads.close()
