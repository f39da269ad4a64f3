"""The emulated control plane (``bedrock-agent``): moto's backend, with what a deploy needs added.

moto 5's ``bedrockagent`` implements CreateAgent, GetAgent, ListAgents, DeleteAgent (and knowledge
bases, tags) but not UpdateAgent, PrepareAgent, the alias calls or action groups. This module adds
those in moto's own shape (a backend with the state, a response class with the wire mapping) and
fixes what would mislead a deploy: agent ids are ten characters as the service's, a new agent is
``NOT_PREPARED`` at version ``DRAFT``, and an alias created without a routing points at a new
numbered version, snapshotted from the draft (its action groups too). Every agent also gets the
built-in test alias ``TSTALIASID`` (the draft). Errors carry the status the service model gives
them (404 for ResourceNotFoundException, where moto says 400) and their own message; timestamps are
ISO 8601, as the model says (moto sends epoch seconds).

Imported only when the emulator's control plane is used (moto is a test/emulator dependency).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from moto.bedrockagent.exceptions import ConflictException, ResourceNotFoundException
from moto.bedrockagent.models import Agent, AgentsforBedrockBackend
from moto.bedrockagent.responses import AgentsforBedrockResponse
from moto.core.exceptions import JsonRESTError
from moto.core.request import Request
from moto.core.utils import unix_time

TEST_ALIAS_ID = "TSTALIASID"
ACTION_GROUP_NAME = re.compile(r"^([0-9a-zA-Z][_-]?){1,100}$")
FUNCTION_NAME = re.compile(r"^([0-9a-zA-Z][_-]?){1,100}$")
PARAMETER_TYPES = ("string", "number", "integer", "boolean", "array")
_ALPHABET = string.ascii_uppercase + string.digits


class ValidationException(JsonRESTError):
    """The service's ValidationException, with the message saying what is wrong (moto's drops it)."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


@dataclass
class AgentVersion:
    """What an alias runs: the agent's settings when the version was made."""

    version: str
    instruction: str | None
    foundation_model: str | None
    created_at: float = field(default_factory=unix_time)
    action_groups: dict[str, ActionGroup] = field(default_factory=dict)


@dataclass
class ActionGroup:
    """An agent's action group: the functions it may ask for, and who runs them (``RETURN_CONTROL``:
    the caller of InvokeAgent; a Lambda: AWS)."""

    agent_id: str
    agent_version: str
    group_id: str
    name: str
    executor: dict[str, Any]
    functions: list[dict[str, Any]] | None
    api_schema: dict[str, Any] | None
    description: str | None = None
    state: str = "ENABLED"
    parent_signature: str | None = None
    client_token: str | None = None
    created_at: float = field(default_factory=unix_time)
    updated_at: float = field(default_factory=unix_time)

    @property
    def returns_control(self) -> bool:
        return self.executor.get("customControl") == "RETURN_CONTROL"

    def function(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.functions or [] if f.get("name") == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agentId": self.agent_id,
            "agentVersion": self.agent_version,
            "actionGroupId": self.group_id,
            "actionGroupName": self.name,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "actionGroupState": self.state,
        }
        optional = {
            "description": self.description,
            "clientToken": self.client_token,
            "parentActionSignature": self.parent_signature,
            "actionGroupExecutor": self.executor or None,
            "apiSchema": self.api_schema,
            "functionSchema": {"functions": self.functions} if self.functions is not None else None,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def summary(self) -> dict[str, Any]:
        out = {
            "actionGroupId": self.group_id,
            "actionGroupName": self.name,
            "actionGroupState": self.state,
            "updatedAt": self.updated_at,
        }
        if self.description:
            out["description"] = self.description
        return out


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
        self.action_groups: dict[str, dict[str, ActionGroup]] = {}  # the draft's, by agent id

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
        self.action_groups.pop(agent_id, None)
        return result

    # --- versions and aliases -----------------------------------------------------------------

    def _new_version(self, agent: Agent) -> str:
        if agent.agent_status != "PREPARED":
            raise ValidationException(
                f"Agent {agent.agent_id} is not prepared. Prepare the agent before creating a version."
            )
        versions = self.versions[agent.agent_id]
        number = str(len(versions) + 1)
        groups = {
            k: replace(g, agent_version=number) for k, g in self.action_groups.get(agent.agent_id, {}).items()
        }
        versions[number] = AgentVersion(
            number, agent.instruction, agent.foundation_model, action_groups=groups
        )
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

    # --- action groups ------------------------------------------------------------------------

    def _draft_groups(self, agent_id: str, version: str) -> dict[str, ActionGroup]:
        self.get_agent(agent_id)
        if version != "DRAFT":
            if version in self.versions.get(agent_id, {}):
                raise ValidationException(
                    f"Action groups of agent version {version} cannot be changed; only the DRAFT's can."
                )
            raise ResourceNotFoundException(f"Agent version {version} not found for agent {agent_id}")
        return self.action_groups.setdefault(agent_id, {})

    def _groups_of(self, agent_id: str, version: str) -> dict[str, ActionGroup]:
        self.get_agent(agent_id)
        if version == "DRAFT":
            return self.action_groups.setdefault(agent_id, {})
        found = self.versions.get(agent_id, {}).get(version)
        if found is None:
            raise ResourceNotFoundException(f"Agent version {version} not found for agent {agent_id}")
        return found.action_groups

    def create_action_group(self, agent_id: str, version: str, params: dict[str, Any]) -> ActionGroup:
        groups = self._draft_groups(agent_id, version)
        name = params.get("actionGroupName")
        if any(g.name == name for g in groups.values()):
            raise ConflictException(f"An action group named {name} already exists for agent {agent_id}")
        group = ActionGroup(agent_id, "DRAFT", new_id(), **_action_group_fields(params))
        groups[group.group_id] = group
        self._changed(agent_id)
        return group

    def get_action_group(self, agent_id: str, version: str, group_id: str) -> ActionGroup:
        group = self._groups_of(agent_id, version).get(group_id)
        if group is None:
            raise ResourceNotFoundException(
                f"Action group {group_id} not found for agent {agent_id} version {version}"
            )
        return group

    def list_action_groups(self, agent_id: str, version: str) -> list[ActionGroup]:
        return list(self._groups_of(agent_id, version).values())

    def update_action_group(
        self, agent_id: str, version: str, group_id: str, params: dict[str, Any]
    ) -> ActionGroup:
        groups = self._draft_groups(agent_id, version)
        group = self.get_action_group(agent_id, version, group_id)
        name = params.get("actionGroupName")
        if any(g.name == name and g.group_id != group_id for g in groups.values()):
            raise ConflictException(f"An action group named {name} already exists for agent {agent_id}")
        fields = _action_group_fields(params)
        updated = replace(group, **fields, updated_at=unix_time())
        groups[group_id] = updated
        self._changed(agent_id)
        return updated

    def delete_action_group(self, agent_id: str, version: str, group_id: str) -> None:
        groups = self._draft_groups(agent_id, version)
        self.get_action_group(agent_id, version, group_id)
        del groups[group_id]
        self._changed(agent_id)

    def _changed(self, agent_id: str) -> None:
        """A change to the draft: it must be prepared again before it serves (as on the service)."""
        agent = self.get_agent(agent_id)
        agent.agent_status = "NOT_PREPARED"
        agent.updated_at = unix_time()

    def resolve(self, agent_id: str, alias_id: str) -> tuple[Agent, AgentAlias, AgentVersion | None]:
        """The agent, alias and version InvokeAgent runs; raises ResourceNotFoundException."""
        agent = self.get_agent(agent_id)
        alias = self.get_agent_alias(agent_id, alias_id)
        version = None if alias.version == "DRAFT" else self.versions[agent_id].get(alias.version)
        return agent, alias, version


def _action_group_fields(params: dict[str, Any]) -> dict[str, Any]:
    """An action group's fields from a Create/UpdateAgentActionGroup body, checked as the service does."""
    name = params.get("actionGroupName")
    if not isinstance(name, str) or not ACTION_GROUP_NAME.match(name):
        raise ValidationException(
            f"1 validation error detected: Value '{name}' at 'actionGroupName' failed to satisfy constraint:"
            " Member must satisfy regular expression pattern: ([0-9a-zA-Z][_-]?){1,100}"
        )
    executor = params.get("actionGroupExecutor") or {}
    signature = params.get("parentActionGroupSignature")
    functions = (params.get("functionSchema") or {}).get("functions")
    api_schema = params.get("apiSchema")
    if not isinstance(executor, dict) or len(executor) > 1:
        raise ValidationException("actionGroupExecutor must hold exactly one of lambda or customControl.")
    if executor.get("customControl") not in (None, "RETURN_CONTROL"):
        raise ValidationException("actionGroupExecutor.customControl must be RETURN_CONTROL.")
    if signature is None:
        if not executor:
            raise ValidationException(
                "An action group needs an actionGroupExecutor (lambda or customControl)."
            )
        if (functions is None) == (api_schema is None):
            raise ValidationException("An action group needs exactly one of functionSchema or apiSchema.")
    for index, fn in enumerate(functions or []):
        where = f"functionSchema.functions.{index}"
        if not isinstance(fn, dict) or not FUNCTION_NAME.match(str(fn.get("name", ""))):
            raise ValidationException(f"{where}.name must match ([0-9a-zA-Z][_-]?){{1,100}}.")
        for pname, spec in (fn.get("parameters") or {}).items():
            if not isinstance(spec, dict) or spec.get("type") not in PARAMETER_TYPES:
                raise ValidationException(
                    f"{where}.parameters.{pname}.type must be one of {', '.join(PARAMETER_TYPES)}."
                )
    state = params.get("actionGroupState") or "ENABLED"
    if state not in ("ENABLED", "DISABLED"):
        raise ValidationException("actionGroupState must be ENABLED or DISABLED.")
    return {
        "name": name,
        "executor": executor,
        "functions": functions,
        "api_schema": api_schema,
        "description": params.get("description"),
        "state": state,
        "parent_signature": signature,
        "client_token": params.get("clientToken"),
    }


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

    # --- action groups ------------------------------------------------------------------------

    def _group_path(self) -> tuple[str, str, str]:
        # /agents/{agentId}/agentversions/{agentVersion}/actiongroups/{actionGroupId}/
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        return parts[1], parts[3], parts[5] if len(parts) > 5 else ""

    def create_agent_action_group(self) -> str:
        agent_id, version, _ = self._group_path()
        group = self._backend.create_action_group(agent_id, version, self._params())
        return json.dumps({"agentActionGroup": group.to_dict()})

    def get_agent_action_group(self) -> str:
        group = self._backend.get_action_group(*self._group_path())
        return json.dumps({"agentActionGroup": group.to_dict()})

    def update_agent_action_group(self) -> str:
        agent_id, version, group_id = self._group_path()
        group = self._backend.update_action_group(agent_id, version, group_id, self._params())
        return json.dumps({"agentActionGroup": group.to_dict()})

    def delete_agent_action_group(self) -> tuple[int, dict[str, str], str]:
        self._backend.delete_action_group(*self._group_path())
        return 204, {}, ""

    def list_agent_action_groups(self) -> str:
        agent_id, version, _ = self._group_path()
        p = self._params()
        groups = self._backend.list_action_groups(agent_id, version)
        start = int(p.get("nextToken") or 0)
        size = int(p.get("maxResults") or 100)
        page = groups[start : start + size]
        out: dict[str, Any] = {"actionGroupSummaries": [g.summary() for g in page]}
        if start + size < len(groups):
            out["nextToken"] = str(start + size)
        return json.dumps(out)


def dispatch(
    backend: AgentsBackend, operation: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes] | None:
    """Serve one control-plane request with moto; None when moto does not implement `operation`.

    A body that is not a JSON object is the service's 400 SerializationException; a body whose
    fields have the wrong types (which moto trips over) its 400 ValidationException.
    """
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            return _error(400, "SerializationException", "The request body is not valid JSON.")
        if not isinstance(parsed, dict):
            return _error(400, "SerializationException", "The request body must be a JSON object.")
    request = Request.from_primitives(method, url, headers, body)
    response = AgentsResponse(backend)
    response.setup_class(request)
    try:
        status, out_headers, out_body = response.call_action()
    except NotImplementedError:
        return None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return _error(
            400, "ValidationException", f"{operation}: a field of the request is not valid ({exc})."
        )
    clean = {k: str(v) for k, v in out_headers.items() if k.lower() != "status"}
    clean.setdefault("Content-Type", "application/json")
    data = out_body.encode() if isinstance(out_body, str) else bytes(out_body or b"")
    status = int(status)
    if status >= 400:
        return _model_error(status, clean, data)
    return status, clean, _iso_timestamps(operation, data)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return status, headers, json.dumps({"message": message}).encode()


def _model_error(status: int, headers: dict[str, str], data: bytes) -> tuple[int, dict[str, str], bytes]:
    """moto's error with the status the service model gives its type (moto sends 400 for all)."""
    from podium.providers.bedrock.operations import error_status

    try:
        said = json.loads(data)
    except ValueError:
        return status, headers, data
    code = str(said.get("__type") or "").split("#")[-1] if isinstance(said, dict) else ""
    if not code:
        return status, headers, data
    return _error(error_status("bedrock-agent", code) or status, code, str(said.get("message") or code))


def _iso_timestamps(operation: str, data: bytes) -> bytes:
    """The reply with each timestamp member (epoch seconds in moto) as ISO 8601, as the model says."""
    from podium.providers.bedrock.operations import output_shape

    shape = output_shape("bedrock-agent", operation)
    if shape is None or not data:
        return data
    try:
        parsed = json.loads(data)
    except ValueError:
        return data
    return json.dumps(_convert(parsed, shape)).encode()


def _convert(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _convert(v, members[k]) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_convert(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _convert(v, shape.value) for k, v in value.items()}
    return value
