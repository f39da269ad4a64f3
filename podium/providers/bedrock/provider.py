"""BedrockProvider: a managed Bedrock agent through InvokeAgent, or a Bedrock model through Converse.

The class ties the parts together: `binding` (what an agent runs on), `client` (boto3),
`agents` (InvokeAgent and return control), `converse`, `errors`, `deploy`, and the emulator. boto3
is synchronous: each call, event stream included, runs in the kit's thread pool for this provider
(sized like its connection pool), so thousands of concurrent steps do not queue behind asyncio's
small default pool, and a cancelled call closes its stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Deployment,
    Emulator,
    EmulatorOptions,
    Provider,
    ProviderEnv,
)
from podium.core.errors import InvalidRequest, StepError
from podium.providers._kit.threads import SdkCall, SdkThreads
from podium.providers._kit.tools import Toolbox
from podium.providers.bedrock import binding as bindings
from podium.providers.bedrock.agents import invoke_agent
from podium.providers.bedrock.binding import BINDING_FIX, BedrockBinding, ManagedAgent, Target, Targets
from podium.providers.bedrock.client import BedrockClients
from podium.providers.bedrock.config import BedrockConfig, BedrockEmulatorOptions
from podium.providers.bedrock.converse import converse
from podium.providers.bedrock.deploy import deploy_workflow
from podium.providers.bedrock.errors import PROVIDER, to_podium

if TYPE_CHECKING:
    from podium.core.spec import Workflow


class BedrockProvider(Provider):
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
        self.threads = SdkThreads(config.max_connections, name=PROVIDER)
        self.tools = Toolbox(env.base_dir, provider=PROVIDER)
        self.targets = Targets(env, lambda: self.clients.endpoint_url, lambda: self.clients.region)

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

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        self.binding(request)  # a bad binding fails here, before any thread or client
        return await self.threads.run(lambda call: self._call(request, call))

    def _call(self, request: AgentRequest, call: SdkCall) -> AgentResponse:
        where = f"bedrock agent '{request.agent}'"
        target: Target | None = None
        try:
            target = self.target(request)
            if isinstance(target, ManagedAgent):
                where = f"bedrock InvokeAgent {target.agent_id}/{target.alias_id} (agent '{request.agent}')"
                client = self.clients.client("bedrock-agent-runtime")
                return invoke_agent(client, request, target, call, self.tools)
            where = f"bedrock Converse {target.model_id} (agent '{request.agent}')"
            return converse(self.clients.client("bedrock-runtime"), request, target)
        except StepError:
            raise
        except Exception as exc:
            error = to_podium(exc, where)
            if isinstance(error, InvalidRequest) and error.fix is None:
                error.fix = bindings.fix_for(request, target)
            raise error from None

    async def aclose(self) -> None:
        self.clients.close()
        self.threads.close()

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
