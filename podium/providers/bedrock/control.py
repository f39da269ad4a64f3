"""The emulated control plane (``bedrock-agent``): moto's backend, with what a deploy needs added.

moto 5's ``bedrockagent`` implements CreateAgent, GetAgent, ListAgents, DeleteAgent (and knowledge
bases, tags) but not UpdateAgent, PrepareAgent or the alias calls. This module adds those in moto's
own shape (a backend with the state, a response class with the wire mapping) and fixes what would
mislead a deploy: agent ids are ten characters as the service's, a new agent is ``NOT_PREPARED`` at
version ``DRAFT``, and an alias created without a routing points at a new numbered version,
snapshotted from the draft. Every agent also gets the built-in test alias ``TSTALIASID`` (the draft).

Imported only when the emulator's control plane is used (moto is a test/emulator dependency).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from moto.bedrockagent.exceptions import ConflictException, ResourceNotFoundException, ValidationException
from moto.bedrockagent.models import Agent, AgentsforBedrockBackend
from moto.bedrockagent.responses import AgentsforBedrockResponse
from moto.core.request import Request
from moto.core.utils import unix_time

TEST_ALIAS_ID = "TSTALIASID"
_ALPHABET = string.ascii_uppercase + string.digits


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


@dataclass
class AgentVersion:
    """What an alias runs: the agent's settings when the version was made."""

    version: str
    instruction: str | None
    foundation_model: str | None
    created_at: float = field(default_factory=unix_time)


@dataclass
class AgentAlias:
    agent_id: str
    alias_id: str
    name: str
    arn: str
    version: str
    description: str | None = None
    created_at: float = field(default_factory=unix_time)
    updated_at: float = field(default_factory=unix_time)
    status: str = "PREPARED"
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agentId": self.agent_id,
            "agentAliasId": self.alias_id,
            "agentAliasName": self.name,
            "agentAliasArn": self.arn,
            "routingConfiguration": [{"agentVersion": self.version}],
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "agentAliasStatus": self.status,
            "agentAliasHistoryEvents": self.history,
            "aliasInvocationState": "ACCEPT_INVOCATIONS",
        }
        if self.description:
            out["description"] = self.description
        return out

    def summary(self) -> dict[str, Any]:
        keep = ("agentAliasId", "agentAliasName", "description", "routingConfiguration", "agentAliasStatus")
        data = self.to_dict()
        return {k: data[k] for k in (*keep, "createdAt", "updatedAt") if k in data}


class AgentsBackend(AgentsforBedrockBackend):
    """moto's bedrock-agent backend plus agent updates, preparation, versions and aliases."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.aliases: dict[str, dict[str, AgentAlias]] = {}
        self.versions: dict[str, dict[str, AgentVersion]] = {}

    # --- agents -------------------------------------------------------------------------------

    def create_agent(self, **kwargs: Any) -> Agent:  # type: ignore[override]
        tags = kwargs.pop("tags", None)
        agent = super().create_agent(**kwargs, tags=None)  # tagged below, under the final ARN
        del self.agents[agent.agent_id]
        agent.agent_id = new_id()
        agent.agent_arn = f"arn:aws:bedrock:{self.region_name}:{self.account_id}:agent/{agent.agent_id}"
        agent.agent_status = "NOT_PREPARED"
        agent.agent_version = "DRAFT"
        agent.prepared_at = None
        agent.recommended_actions = []
        if agent.idle_session_ttl_in_seconds is None:
            agent.idle_session_ttl_in_seconds = 600
        self.agents[agent.agent_id] = agent
        if tags:
            self.tag_resource(agent.agent_arn, tags)
        self.versions[agent.agent_id] = {}
        self.aliases[agent.agent_id] = {
            TEST_ALIAS_ID: AgentAlias(
                agent.agent_id,
                TEST_ALIAS_ID,
                "AgentTestAlias",
                f"arn:aws:bedrock:{self.region_name}:{self.account_id}:agent-alias/{agent.agent_id}/{TEST_ALIAS_ID}",
                "DRAFT",
                description="Test alias for the working draft",
            )
        }
        return agent

    def update_agent(self, agent_id: str, **changes: Any) -> Agent:
        agent = self.get_agent(agent_id)
        for name, value in changes.items():
            if value is not None:
                setattr(agent, name, value)
        agent.agent_status = "NOT_PREPARED"
        agent.updated_at = unix_time()
        return agent

    def prepare_agent(self, agent_id: str) -> Agent:
        agent = self.get_agent(agent_id)
        if not agent.foundation_model:
            raise ValidationException("The agent has no foundation model; set one before preparing it.")
        agent.agent_status = "PREPARED"
        agent.prepared_at = unix_time()
        return agent

    def delete_agent(self, agent_id: str, skip_resource_in_use_check: bool | None) -> tuple[str, str]:
        result = super().delete_agent(agent_id, skip_resource_in_use_check)
        self.aliases.pop(agent_id, None)
        self.versions.pop(agent_id, None)
        return result

    # --- versions and aliases -----------------------------------------------------------------

    def _new_version(self, agent: Agent) -> str:
        if agent.agent_status != "PREPARED":
            raise ValidationException(
                f"Agent {agent.agent_id} is not prepared. Prepare the agent before creating a version."
            )
        versions = self.versions[agent.agent_id]
        number = str(len(versions) + 1)
        versions[number] = AgentVersion(number, agent.instruction, agent.foundation_model)
        return number

    def _routed_version(self, agent: Agent, routing: list[dict[str, Any]] | None) -> str:
        if not routing:
            return self._new_version(agent)
        version = str(routing[0].get("agentVersion") or "")
        if version != "DRAFT" and version not in self.versions[agent.agent_id]:
            raise ValidationException(f"Agent version {version} does not exist for agent {agent.agent_id}")
        return version

    def create_agent_alias(
        self, agent_id: str, name: str, description: str | None, routing: list[dict[str, Any]] | None
    ) -> AgentAlias:
        agent = self.get_agent(agent_id)
        aliases = self.aliases[agent_id]
        if any(a.name == name for a in aliases.values()):
            raise ConflictException(f"An alias named {name} already exists for agent {agent_id}")
        alias_id = new_id()
        alias = AgentAlias(
            agent_id,
            alias_id,
            name,
            f"arn:aws:bedrock:{self.region_name}:{self.account_id}:agent-alias/{agent_id}/{alias_id}",
            self._routed_version(agent, routing),
            description=description,
        )
        aliases[alias_id] = alias
        return alias

    def get_agent_alias(self, agent_id: str, alias_id: str) -> AgentAlias:
        self.get_agent(agent_id)
        alias = self.aliases.get(agent_id, {}).get(alias_id)
        if alias is None:
            raise ResourceNotFoundException(f"Agent alias {alias_id} not found for agent {agent_id}")
        return alias

    def list_agent_aliases(self, agent_id: str) -> list[AgentAlias]:
        self.get_agent(agent_id)
        return list(self.aliases.get(agent_id, {}).values())

    def update_agent_alias(
        self,
        agent_id: str,
        alias_id: str,
        name: str,
        description: str | None,
        routing: list[dict[str, Any]] | None,
    ) -> AgentAlias:
        alias = self.get_agent_alias(agent_id, alias_id)
        if alias_id == TEST_ALIAS_ID:
            raise ValidationException("The test alias TSTALIASID cannot be updated.")
        previous = {"routingConfiguration": [{"agentVersion": alias.version}], "startDate": alias.updated_at}
        alias.version = self._routed_version(self.get_agent(agent_id), routing)
        alias.name = name
        alias.description = description or alias.description
        alias.updated_at = unix_time()
        alias.history.insert(0, {**previous, "endDate": alias.updated_at})
        return alias

    def delete_agent_alias(self, agent_id: str, alias_id: str) -> AgentAlias:
        alias = self.get_agent_alias(agent_id, alias_id)
        del self.aliases[agent_id][alias_id]
        alias.status = "DELETING"
        return alias

    def resolve(self, agent_id: str, alias_id: str) -> tuple[Agent, AgentAlias, AgentVersion | None]:
        """The agent, alias and version InvokeAgent runs; raises ResourceNotFoundException."""
        agent = self.get_agent(agent_id)
        alias = self.get_agent_alias(agent_id, alias_id)
        version = None if alias.version == "DRAFT" else self.versions[agent_id].get(alias.version)
        return agent, alias, version


class AgentsResponse(AgentsforBedrockResponse):
    """moto's wire mapping for bedrock-agent, bound to one emulator's backend, plus the added calls."""

    def __init__(self, backend: AgentsBackend) -> None:
        super().__init__()
        self._backend = backend

    @property
    def bedrockagent_backend(self) -> AgentsBackend:  # type: ignore[override]
        return self._backend

    def _params(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}

    def _agent_id(self) -> str:
        return str(self.uri_match.get("agentId") or self.path.strip("/").split("/")[1])

    def _alias_id(self) -> str:
        return str(self.uri_match.get("agentAliasId") or self.path.strip("/").split("/")[3])

    def update_agent(self) -> str:
        p = self._params()
        agent = self._backend.update_agent(
            self._agent_id(),
            agent_name=p.get("agentName"),
            instruction=p.get("instruction"),
            foundation_model=p.get("foundationModel"),
            description=p.get("description"),
            idle_session_ttl_in_seconds=p.get("idleSessionTTLInSeconds"),
            agent_resource_role_arn=p.get("agentResourceRoleArn"),
            prompt_override_configuration=p.get("promptOverrideConfiguration"),
        )
        return json.dumps({"agent": agent.to_dict()})

    def prepare_agent(self) -> str:
        agent = self._backend.prepare_agent(self._agent_id())
        return json.dumps(
            {
                "agentId": agent.agent_id,
                "agentStatus": agent.agent_status,
                "agentVersion": "DRAFT",
                "preparedAt": agent.prepared_at,
            }
        )

    def create_agent_alias(self) -> str:
        p = self._params()
        alias = self._backend.create_agent_alias(
            self._agent_id(), p.get("agentAliasName"), p.get("description"), p.get("routingConfiguration")
        )
        return json.dumps({"agentAlias": alias.to_dict()})

    def get_agent_alias(self) -> str:
        alias = self._backend.get_agent_alias(self._agent_id(), self._alias_id())
        return json.dumps({"agentAlias": alias.to_dict()})

    def list_agent_aliases(self) -> str:
        aliases = self._backend.list_agent_aliases(self._agent_id())
        return json.dumps({"agentAliasSummaries": [a.summary() for a in aliases]})

    def update_agent_alias(self) -> str:
        p = self._params()
        alias = self._backend.update_agent_alias(
            self._agent_id(),
            self._alias_id(),
            p.get("agentAliasName"),
            p.get("description"),
            p.get("routingConfiguration"),
        )
        return json.dumps({"agentAlias": alias.to_dict()})

    def delete_agent_alias(self) -> str:
        alias = self._backend.delete_agent_alias(self._agent_id(), self._alias_id())
        return json.dumps(
            {"agentId": alias.agent_id, "agentAliasId": alias.alias_id, "agentAliasStatus": alias.status}
        )


def dispatch(
    backend: AgentsBackend, method: str, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes] | None:
    """Serve one control-plane request with moto; None when it is no bedrock-agent operation."""
    request = Request.from_primitives(method, url, headers, body)
    response = AgentsResponse(backend)
    response.setup_class(request)
    if not response._get_action():
        return None
    try:
        status, out_headers, out_body = response.call_action()
    except NotImplementedError:
        return None
    clean = {k: str(v) for k, v in out_headers.items() if k.lower() != "status"}
    clean.setdefault("Content-Type", "application/json")
    data = out_body.encode() if isinstance(out_body, str) else bytes(out_body or b"")
    return int(status), clean, data
