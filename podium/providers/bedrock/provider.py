"""BedrockProvider: managed agents (InvokeAgent), AgentCore runtimes, or models (Converse).

The class ties the parts together: `binding` (what an agent runs on), `client` (boto3), `agents`
(InvokeAgent and return control), `agentcore` (InvokeAgentRuntime), `converse`, `errors`, `deploy`,
and the emulator. boto3 is synchronous: by default (``transport: loop``) a Converse or InvokeAgent
call of an agent without tools is made on the event loop instead (`transport`: botocore's own
serializer, signer and parsers, the bytes sent with asyncio; bench/findings.md, 7d), unless a
setting needs boto3 itself (`AsyncBedrock.unusable`). Every other call (an agent with tools, an
AgentCore runtime, ``transport: threads``) runs boto3 in the kit's thread pool for this provider
(sized like its connection pool), so thousands of concurrent steps do not queue behind asyncio's
small default pool, and a cancelled call closes its stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Deployment,
    Emulator,
    EmulatorOptions,
    ProviderEnv,
)
from podium.core.errors import StepError
from podium.providers._kit.propagation import call_headers
from podium.providers._kit.provider import SdkProvider
from podium.providers._kit.threads import SdkCall
from podium.providers.bedrock import binding as bindings
from podium.providers.bedrock.agentcore import SERVICE as AGENTCORE
from podium.providers.bedrock.agentcore import Runtime, invoke_runtime
from podium.providers.bedrock.agents import ainvoke_agent, invoke_agent
from podium.providers.bedrock.binding import BINDING_FIX, BedrockBinding, ManagedAgent, Model, Target, Targets
from podium.providers.bedrock.client import BedrockClients
from podium.providers.bedrock.config import BedrockConfig, BedrockEmulatorOptions
from podium.providers.bedrock.converse import aconverse, converse
from podium.providers.bedrock.deploy import deploy_workflow
from podium.providers.bedrock.errors import to_podium
from podium.providers.bedrock.transport import AsyncBedrock

if TYPE_CHECKING:
    from podium.core.spec import Workflow

log = logging.getLogger("podium")
# what an AgentCore runtime's failure must be for its binding's fallback_model to answer instead
FALLS_BACK = frozenset({"throttled", "transient", "timeout", "agent_error"})


class BedrockProvider(SdkProvider):
    """AWS Bedrock: managed agents through InvokeAgent, models through Converse (boto3)."""

    name: ClassVar[str] = "bedrock"
    Config = BedrockConfig
    Binding = BedrockBinding
    description: ClassVar[str] = "AWS Bedrock: managed agents (InvokeAgent) and models (Converse)"
    binding_fix = BINDING_FIX
    can_deploy = True
    emulator_options = BedrockEmulatorOptions

    def __init__(self, config: BedrockConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.config: BedrockConfig = config
        self.clients = BedrockClients(config)
        self.http = AsyncBedrock(self.clients)
        # why calls go through boto3 in the thread pool (None: on the event loop, `acall`)
        self.threaded_because = self.http.unusable()
        self.targets = Targets(
            env, lambda: self.clients.endpoint_url, lambda: self.clients.region, self.clients.account_id
        )

    def session(self) -> object:
        """The boto3 Session for this provider's profile, region and (emulator) keys."""
        return self.clients.session()

    @property
    def region(self) -> str | None:
        return self.clients.region

    def client(self, service: str) -> object:
        """A botocore client for `service` (bedrock-agent-runtime, bedrock-runtime, bedrock-agent)."""
        return self.clients.client(service)

    def binding(self, request: AgentRequest) -> BedrockBinding:
        """The agent's ``bedrock:`` section, checked once; an unusable one is an InvalidRequest with a fix."""
        return bindings.check(cast(BedrockBinding, super().binding(request)), request.agent)

    def target(self, request: AgentRequest) -> Target:
        """What a request runs on: a managed agent (binding, else lock file) or a model."""
        return self.targets.resolve(request, self.binding(request))

    # --- calls --------------------------------------------------------------------------------

    def describe(self, request: AgentRequest, target: Target) -> str:
        if isinstance(target, Runtime):
            return f"bedrock AgentCore runtime {target.runtime_id} (agent '{request.agent}')"
        if isinstance(target, ManagedAgent):
            return f"bedrock InvokeAgent {target.agent_id}/{target.alias_id} (agent '{request.agent}')"
        return f"bedrock Converse {target.model_id} (agent '{request.agent}')"

    def call(self, request: AgentRequest, target: Target, call: SdkCall) -> AgentResponse:
        if isinstance(target, Runtime):
            return self._runtime(request, target, call)
        if isinstance(target, ManagedAgent):
            return invoke_agent(
                self.clients.client("bedrock-agent-runtime"), request, target, call, self.tools
            )
        return converse(self.clients.client("bedrock-runtime"), request, target, call, self.tools)

    def _runtime(self, request: AgentRequest, target: Runtime, call: SdkCall) -> AgentResponse:
        """InvokeAgentRuntime; on a failure the binding's ``fallback_model`` answers, when it has one
        and retrying could have helped (or the runtime's agent failed): a bad request still fails."""
        try:
            return invoke_runtime(self.clients.client(AGENTCORE), request, target, call)
        except Exception as exc:
            if target.fallback_model is None:
                raise
            error = exc if isinstance(exc, StepError) else self.to_podium(exc, self.describe(request, target))
            if error.kind not in FALLS_BACK:
                raise error from None
        why = f"fallback from AgentCore runtime {target.runtime_id} ({error.kind})"
        log.warning("warning: %s: %s; %s answers instead", self.describe(request, target), error.message,
                    target.fallback_model)  # fmt: skip
        model = Model(target.fallback_model, why)
        response = converse(self.clients.client("bedrock-runtime"), request, model, call, self.tools)
        response.native["fell_back"] = {"from": target.arn, "kind": error.kind, "message": error.message}
        response.bound_to = {"kind": "model", "id": target.fallback_model, "via": why}
        return response

    def on_loop(self, request: AgentRequest) -> bool:
        # a tool runs in a worker thread (it may block): an agent with tools keeps the thread path
        return self.threaded_because is None and not request.tools

    async def atarget(self, request: AgentRequest) -> Target:
        binding = self.binding(request)
        if self.targets.ready or binding.agent_id or binding.runtime_arn:
            return self.target(request)
        return await asyncio.to_thread(self.target, request)  # the lock file, maybe STS: once, off the loop

    async def acall(self, request: AgentRequest, target: Target) -> AgentResponse:
        headers = call_headers(request)
        if isinstance(target, ManagedAgent):
            return await ainvoke_agent(self.http, request, target, self.tools, headers)
        if isinstance(target, Runtime):
            return await self.threads.run(lambda call: self.call(request, target, call), headers=headers)
        return await aconverse(self.http, request, target, headers)

    async def aclose(self) -> None:
        await self.http.aclose()
        await super().aclose()

    def bound(self, target: Target) -> dict[str, str]:
        if isinstance(target, Runtime):
            return {"kind": "agentcore", "id": target.arn, "via": "binding"}
        if isinstance(target, ManagedAgent):
            return {"kind": "agent", "id": f"{target.agent_id}/{target.alias_id}", "via": target.source}
        if target.why:
            return {"kind": "model", "id": target.model_id, "via": target.why}
        if self.targets.elsewhere:  # the lock file's agents are for another region, endpoint or account
            return {
                "kind": "model",
                "id": target.model_id,
                "via": "model; the lock file is for another target",
            }
        return {"kind": "model", "id": target.model_id, "via": "model"}

    def to_podium(self, exc: BaseException, where: str) -> StepError:
        return to_podium(exc, where)

    def fix_for(self, request: AgentRequest, target: Target | None) -> str | None:
        return bindings.fix_for(request, target)

    # --- deploy and emulate -------------------------------------------------------------------

    def deploy(self, workflow: Workflow, *, echo: Callable[[str], None] | None = None) -> list[Deployment]:
        """Create or update the workflow's managed agents and record them in ``podium-lock.json``.

        See `podium.providers.bedrock.deploy`.
        """
        return deploy_workflow(self.clients, workflow, resolve_model=self.resolve_model, echo=echo)

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        """Bedrock's emulator on 127.0.0.1 (not started), its brain the workflow's mock replies."""
        from podium.providers.bedrock.emulator import BedrockEmulator

        chosen = options if isinstance(options, BedrockEmulatorOptions) else BedrockEmulatorOptions()
        return BedrockEmulator.for_mock(env.mock, port=port, region=chosen.region)
