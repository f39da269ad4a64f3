"""AzureProvider: Foundry agents by name and model deployments, through the project's Responses API.

The class ties the parts together: `binding` (what an agent runs on), `client` (the SDKs),
`responses` (the call and its tool loop), `conversations` (a conversation per run and step,
remembered across a resume), `errors`, `deploy`, and the emulator. The SDK clients are
synchronous: each call runs in the kit's thread pool for this provider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
from podium.providers._kit.provider import SdkProvider
from podium.providers._kit.threads import SdkCall
from podium.providers.azure import binding as bindings
from podium.providers.azure.binding import BINDING_FIX, AzureBinding, FoundryAgent, Target, Targets
from podium.providers.azure.client import AzureClients
from podium.providers.azure.config import AzureConfig, AzureEmulatorOptions
from podium.providers.azure.conversations import DEFAULT_FILE, Conversations
from podium.providers.azure.errors import to_podium
from podium.providers.azure.responses import respond

if TYPE_CHECKING:
    from podium.core.spec import Workflow


class AzureProvider(SdkProvider):
    """Azure AI Foundry: Foundry agents (agent_reference) and model deployments (Responses)."""

    name: ClassVar[str] = "azure"
    Config = AzureConfig
    Binding = AzureBinding
    description: ClassVar[str] = "Azure AI Foundry: Foundry agents and model deployments (Responses API)"
    binding_fix = BINDING_FIX
    can_deploy = True
    emulator_options = AzureEmulatorOptions

    def __init__(self, config: AzureConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.config: AzureConfig = config
        self.clients = AzureClients(config)
        self.targets = Targets(env, self.clients.endpoint)
        path = Path(config.conversations_file) if config.conversations_file else env.base_dir / DEFAULT_FILE
        self.conversations = Conversations(path, self.clients.endpoint)

    def binding(self, request: AgentRequest) -> AzureBinding:
        """The agent's ``azure:`` section, checked once; an unusable one is an InvalidRequest with a fix."""
        return bindings.check(cast(AzureBinding, super().binding(request)), request.agent)

    def target(self, request: AgentRequest) -> Target:
        """What a request runs on: a Foundry agent (binding, else lock file) or a model deployment."""
        return self.targets.resolve(request, self.binding(request))

    def describe(self, request: AgentRequest, target: Target) -> str:
        if isinstance(target, FoundryAgent):
            version = f" version {target.version}" if target.version else ""
            return f"azure Foundry agent {target.name}{version} (agent '{request.agent}')"
        return f"azure deployment {target.model} (agent '{request.agent}')"

    def call(self, request: AgentRequest, target: Target, call: SdkCall) -> AgentResponse:
        where = self.describe(request, target)
        return respond(self.clients.openai(), request, target, call, self.tools, self.conversations, where)

    def bound(self, target: Target) -> dict[str, str]:
        if isinstance(target, FoundryAgent):
            name = f"{target.name}@{target.version}" if target.version else target.name
            return {"kind": "agent", "id": name, "via": target.source}
        return {"kind": "model", "id": target.model, "via": "model deployment"}

    def to_podium(self, exc: BaseException, where: str) -> StepError:
        return to_podium(exc, where)

    def fix_for(self, request: AgentRequest, target: Target | None) -> str | None:
        return bindings.fix_for(request, target)

    def deploy(self, workflow: Workflow, *, echo: Callable[[str], None] | None = None) -> list[Deployment]:
        """Create a version of each of the workflow's Foundry agents whose definition changed.

        See `podium.providers.azure.deploy`.
        """
        from podium.providers.azure.deploy import deploy_workflow

        return deploy_workflow(self.clients, workflow, resolve_model=self.resolve_model, echo=echo)

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        """Azure's emulator on 127.0.0.1 over HTTPS (not started), its brain the workflow's mock replies."""
        from podium.providers.azure.emulator import AzureEmulator

        chosen = options if isinstance(options, AzureEmulatorOptions) else AzureEmulatorOptions()
        return AzureEmulator.for_mock(env.mock, port=port, project=chosen.project)
