"""VertexProvider: an Agent Engine (ADK stream_query with sessions, or query), or a Gemini model.

The class ties the parts together: `binding` (what an agent runs on), `client` (credentials,
google-genai, vertexai), `engines`, `gemini` (with function calling), `errors`, and the emulator.
Both SDKs are called synchronously, each call in the kit's thread pool for this provider (sized by
``max_connections``), with the SDKs' own retries off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Deployment,
    Emulator,
    EmulatorOptions,
    ProviderEnv,
)
from podium.core.errors import StepError
from podium.providers._kit import lock
from podium.providers._kit.provider import SdkProvider
from podium.providers._kit.threads import SdkCall
from podium.providers.vertex import binding as bindings
from podium.providers.vertex import engines
from podium.providers.vertex.binding import BINDING_FIX, Engine, Target, VertexBinding
from podium.providers.vertex.client import VertexClients
from podium.providers.vertex.config import VertexConfig, VertexEmulatorOptions
from podium.providers.vertex.deploy import deploy_workflow, lock_target
from podium.providers.vertex.errors import PROVIDER, to_podium
from podium.providers.vertex.gemini import generate

if TYPE_CHECKING:
    from podium.core.spec import Workflow


class VertexProvider(SdkProvider):
    """Google Vertex AI: Agent Engines (vertexai) and Gemini models (google-genai)."""

    name: ClassVar[str] = PROVIDER
    Config = VertexConfig
    Binding = VertexBinding
    description: ClassVar[str] = "Google Vertex AI: Agent Engine (query, stream_query) and Gemini models"
    binding_fix = BINDING_FIX
    can_deploy = True
    emulator_options = VertexEmulatorOptions

    def __init__(self, config: VertexConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.config: VertexConfig = config
        self.clients = VertexClients(config)
        self._deployed: dict[str, dict[str, Any]] | None = None

    def binding(self, request: AgentRequest) -> VertexBinding:
        return cast(VertexBinding, super().binding(request))

    def deployed(self) -> dict[str, dict[str, Any]]:
        """The Agent Engines `podium deploy` recorded for this workflow and target (read once)."""
        if self._deployed is None:
            where = lock_target(self.clients.project, self.config.location, self.config.endpoint_url)
            self._deployed = lock.deployed(self.env.base_dir, self.env.workflow, PROVIDER, where)
        return self._deployed

    def target(self, request: AgentRequest) -> Target:
        """What a request runs on: the binding's Agent Engine, else a deployed one, else a Gemini model."""
        binding = self.binding(request)
        deployed = {} if binding.engine else self.deployed().get(request.agent) or {}
        return bindings.resolve(request, binding, self.clients.project, self.config.location, deployed)

    def describe(self, request: AgentRequest, target: Target) -> str:
        if isinstance(target, Engine):
            return f"vertex Agent Engine {target.name} (agent '{request.agent}')"
        return f"vertex generateContent {target.model_id} (agent '{request.agent}')"

    def call(self, request: AgentRequest, target: Target, call: SdkCall) -> AgentResponse:
        if isinstance(target, Engine):
            bindings.check_tools(request, target)
            engine = self.clients.engine(target.name)
            engines.check_methods(engine, request, target)
            if target.method == "query":
                return engines.query(engine, request, target)
            return engines.stream_query(engine, request, target)
        genai = self.clients.genai()
        return generate(genai, request, target, call, self.tools, max_rounds=self.config.max_tool_rounds)

    def bound(self, target: Target) -> dict[str, str]:
        if isinstance(target, Engine):
            return {"kind": "engine", "id": target.name, "via": target.source}
        return {"kind": "model", "id": target.model_id, "via": "model"}

    def to_podium(self, exc: BaseException, where: str) -> StepError:
        return to_podium(exc, where)

    def fix_for(self, request: AgentRequest, target: Target | None) -> str | None:
        return bindings.fix_for(request, target)

    def deploy(self, workflow: Workflow, *, echo: Callable[[str], None] | None = None) -> list[Deployment]:
        """Create or update the workflow's agents as Agent Engines; record them in ``podium-lock.json``.

        See `podium.providers.vertex.deploy`.
        """
        return deploy_workflow(
            self.clients,
            workflow,
            location=self.config.location,
            endpoint_url=self.config.endpoint_url,
            resolve_model=self.resolve_model,
            echo=echo,
        )

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        """Vertex's emulator on 127.0.0.1 (not started), its brain the workflow's mock replies.

        Any Agent Engine the workflow binds is served (there is nothing to deploy first).
        """
        from podium.providers.vertex.emulator import VertexEmulator

        chosen = options if isinstance(options, VertexEmulatorOptions) else VertexEmulatorOptions()
        return VertexEmulator.for_workflow(
            env.mock, port=port, project=chosen.project, location=chosen.location
        )
