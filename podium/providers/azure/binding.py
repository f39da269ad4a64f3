"""What an agent runs on in Azure: its ``azure:`` binding, else the lock file, else a model deployment.

An agent runs as a **Foundry agent** (by name, through the project's Responses API with an
``agent_reference`` and a conversation per run and step) when its ``azure:`` binding names
``agent`` (and optionally ``version``; the latest otherwise), or when ``podium deploy`` recorded one
for it in ``podium-lock.json`` for this endpoint. Otherwise it runs on a **model deployment**:
``azure: {model: …}`` or the agent's ``model:`` (through ``providers.azure.models`` aliases) with
the agent's instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podium.core.calls import AgentRequest, ProviderEnv
from podium.core.errors import InvalidRequest
from podium.providers._kit import lock
from podium.providers.azure.errors import PROVIDER

AGENT_NAME = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"


class AzureBinding(BaseModel):
    """An agent's ``azure:`` section: a Foundry agent (agent, version) or a model deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str | None = Field(
        None,
        pattern=AGENT_NAME,
        description="A Foundry agent's name (alphanumerics and inner hyphens, at most 63 characters).",
    )
    version: str | None = Field(
        None, pattern=r"^[0-9]+$", description="The agent version to run; the latest when omitted."
    )
    model: str | None = Field(None, description="A model deployment's name, called with Responses.")


BINDING_FIX = "write it as azure: {agent: my-agent, version: '3'}, or azure: {model: <deployment name>}"


def check(binding: AzureBinding, agent: str) -> AzureBinding:
    """The binding, if usable as a whole: a version needs its agent."""
    if binding.version and not binding.agent:
        raise InvalidRequest(
            f"agents.{agent}.azure has version {binding.version} but no agent",
            fix=f"add the Foundry agent's name: azure: {{agent: <name>, version: '{binding.version}'}}",
            provider=PROVIDER,
        )
    return binding


@dataclass(frozen=True, slots=True)
class FoundryAgent:
    name: str
    version: str | None
    source: str  # "binding" or the lock file's name


@dataclass(frozen=True, slots=True)
class Deployment:
    model: str


Target = FoundryAgent | Deployment


def lock_target(endpoint: str | None) -> dict[str, Any]:
    """What identifies an Azure deployment in the lock file: the project endpoint."""
    return {"endpoint": endpoint}


class Targets:
    """Resolves requests to Foundry agents or model deployments; reads the lock file once, on need."""

    def __init__(self, env: ProviderEnv, endpoint: str | None) -> None:
        self.env = env
        self.endpoint = endpoint
        self._deployed: dict[str, dict[str, Any]] | None = None

    def deployed(self) -> dict[str, dict[str, Any]]:
        if self._deployed is None:
            self._deployed = lock.deployed(
                self.env.base_dir, self.env.workflow, PROVIDER, lock_target(self.endpoint)
            )
        return self._deployed

    def resolve(self, request: AgentRequest, binding: AzureBinding) -> Target:
        """What a request runs on: a Foundry agent (binding, else lock file) or a model deployment."""
        if binding.agent:
            return FoundryAgent(binding.agent, binding.version, "binding")
        deployed = self.deployed().get(request.agent)
        if deployed and deployed.get("agent_name"):
            version = deployed.get("agent_version")
            return FoundryAgent(
                str(deployed["agent_name"]), str(version) if version else None, lock.LOCK_FILE
            )
        model = binding.model or request.model
        if model:
            return Deployment(model)
        raise InvalidRequest(
            f"agent '{request.agent}' has neither a Foundry agent nor a model deployment",
            fix=f"give agents.{request.agent} a model: (a deployment name, or an alias under"
            " providers.azure.models), or bind a Foundry agent with azure: {agent: <name>},"
            " or create one with: podium deploy FILE --provider azure",
            provider=PROVIDER,
        )


def fix_for(request: AgentRequest, target: Target | None) -> str | None:
    """What to do about a request Azure rejected, where podium can tell."""
    if isinstance(target, Deployment):
        return (
            f"check that the project has a model deployment named '{target.model}' (map logical names"
            f" under providers.azure.models, e.g. {target.model}: gpt-4o)"
        )
    if isinstance(target, FoundryAgent) and target.source != "binding":
        return f"the agent recorded in {target.source} is gone: run podium deploy FILE --provider azure again"
    if isinstance(target, FoundryAgent):
        return f"check agents.{request.agent}.azure.agent (and version) against the Foundry portal"
    return None
