"""What an agent runs on in Bedrock: its ``bedrock:`` binding, else the lock file, else a model.

An agent runs on an **AgentCore runtime** when its ``bedrock:`` binding names ``runtime_arn``
(`podium.providers.bedrock.agentcore`). It runs as a **managed agent** when its ``bedrock:`` binding
names ``agent_id`` (and ``alias_id``; without one, the draft's test alias ``TSTALIASID``), or when
``podium deploy`` recorded one for it in ``podium-lock.json`` for this region and endpoint.
Otherwise it runs as a **model**: ``bedrock: {model: …}`` or the agent's ``model:`` (through
``providers.bedrock.models`` aliases) is sent to Converse with the agent's instructions as the
system prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from podium.core.calls import AgentRequest, ProviderEnv
from podium.core.errors import InvalidRequest
from podium.providers._kit import lock
from podium.providers._kit import payload as payloads
from podium.providers.bedrock.agentcore import ARN_EXAMPLE, QUALIFIER, Runtime, arn_problem
from podium.providers.bedrock.errors import PROVIDER

TEST_ALIAS_ID = "TSTALIASID"

log = logging.getLogger("podium")


class BedrockBinding(BaseModel):
    """An agent's ``bedrock:`` section: a managed agent (agent_id, alias_id) or a model id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str | None = Field(
        None, pattern=r"^[0-9a-zA-Z]{10}$", description="A managed Bedrock agent's id (ten characters)."
    )
    alias_id: str | None = Field(
        None,
        pattern=r"^[0-9a-zA-Z]{10}$",
        description="The agent alias to invoke; TSTALIASID (the working draft) when omitted.",
    )
    model: str | None = Field(
        None,
        description="A Bedrock model id, called with Converse; beside runtime_arn, the model the"
        " runtime's agent runs on (to price the usage it reports).",
    )
    runtime_arn: str | None = Field(
        None,
        description=f"An AgentCore runtime's ARN, {ARN_EXAMPLE}, called with InvokeAgentRuntime.",
    )
    qualifier: str | None = Field(
        None,
        pattern=QUALIFIER,
        description="The runtime's endpoint name (or version) to invoke; the runtime's DEFAULT when omitted.",
    )
    payload: str | dict[str, Any] | None = Field(
        None,
        description="The JSON the runtime gets: a mapping whose strings are templates, or one template"
        " that renders to JSON (quote values with | tojson); names: "
        + ", ".join(payloads.names())
        + '. Default: {"prompt": <the step\'s prompt>}.',
    )
    user_id: str | None = Field(
        "{{ run_id }}",
        description="The runtimeUserId sent with each call (a template; the run id by default);"
        " null sends none. Sending one needs bedrock-agentcore:InvokeAgentRuntimeForUser.",
    )
    stream: bool | None = Field(
        None,
        description="Ask the runtime for a streamed reply (true: text/event-stream) or one JSON body"
        " (false); unset: the agent's choice. Either is read whole.",
    )
    fallback_model: str | None = Field(
        None,
        description="A Bedrock model id (Converse) that answers instead when the runtime fails with a"
        " throttle, a transient error, a timeout or its agent's own error.",
    )

    @field_validator("runtime_arn")
    @classmethod
    def _runtime_arn(cls, value: str | None) -> str | None:
        if value is not None and (problem := arn_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if value is not None and (problem := payloads.check(value)):
            raise ValueError(f"the payload template cannot make a JSON body: {problem}")
        return value

    @model_validator(mode="after")
    def _runtime_keys(self) -> BedrockBinding:
        if self.runtime_arn and (self.agent_id or self.alias_id):
            raise ValueError(
                "a bedrock binding names either an AgentCore runtime (runtime_arn) or a managed agent"
                " (agent_id, alias_id), not both"
            )
        if self.alias_id and not self.agent_id and not self.runtime_arn:
            # refused here, not at the call, so that `podium validate` names the file and line
            raise ValueError(
                f"alias_id {self.alias_id} needs the agent it belongs to: add agent_id"
                f" (bedrock: {{agent_id: <ten-character id>, alias_id: {self.alias_id}}})"
            )
        if not self.runtime_arn:
            given = [k for k in RUNTIME_ONLY if k in self.model_fields_set]
            if given:
                raise ValueError(
                    f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for an AgentCore runtime:"
                    f" add runtime_arn ({ARN_EXAMPLE})"
                )
        return self


RUNTIME_ONLY = ("qualifier", "payload", "user_id", "stream", "fallback_model")


BINDING_FIX = (
    "write it as bedrock: {agent_id: ABCDEFGHIJ, alias_id: KLMNOPQRST}, or bedrock: {model: <model id>},"
    f" or bedrock: {{runtime_arn: {ARN_EXAMPLE}}}"
)


def check(binding: BedrockBinding, agent: str) -> BedrockBinding:
    """The binding, if usable as a whole: an alias needs its agent."""
    if binding.alias_id and not binding.agent_id:
        raise InvalidRequest(
            f"agents.{agent}.bedrock has alias_id {binding.alias_id} but no agent_id",
            fix="add the agent's id: bedrock: {agent_id: <ten-character id>,"
            f" alias_id: {binding.alias_id}}}",
            provider=PROVIDER,
        )
    return binding


@dataclass(frozen=True, slots=True)
class ManagedAgent:
    agent_id: str
    alias_id: str
    source: str  # "binding" or the lock file's path


@dataclass(frozen=True, slots=True)
class Model:
    model_id: str
    why: str | None = None  # why a model, when the lock file has this workflow's agents but not this one


Target = ManagedAgent | Model | Runtime


def lock_target(region: str | None, endpoint_url: str | None) -> dict[str, Any]:
    """What identifies a Bedrock deployment in the lock file: the region, and the endpoint when not AWS's."""
    return {"region": region, "endpoint_url": endpoint_url}


class Targets:
    """Resolves requests to managed agents or models; reads the lock file once, on first need."""

    def __init__(
        self,
        env: ProviderEnv,
        endpoint_url: Callable[[], str | None],
        region: Callable[[], str | None],
        account: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.env = env
        self.endpoint_url = endpoint_url
        self.region = region
        self.account = account  # asked only when the lock file records an account to compare
        self._deployed: dict[str, dict[str, Any]] | None = None
        self.elsewhere: str | None = None  # why the lock file's agents do not serve this target
        self._said: set[str] = set()  # agents already warned about

    @property
    def ready(self) -> bool:
        """Whether the lock file has been read (resolving a request then neither reads files nor asks AWS)."""
        return self._deployed is not None

    def deployed(self) -> dict[str, dict[str, Any]]:
        """Agents `podium deploy` recorded for this workflow, region and endpoint (read once).

        When the lock file has this workflow's agents only for another region, endpoint or AWS
        account, that is said once (a warning naming the difference), never passed over in silence.
        """
        if self._deployed is None:
            target = lock_target(self.region(), self.endpoint_url())
            recorded = lock.entries(self.env.base_dir, self.env.workflow, PROVIDER)
            about = {"account_id": self.account()} if any(e.get("account_id") for e in recorded) else {}
            self._deployed = lock.deployed(self.env.base_dir, self.env.workflow, PROVIDER, target, about)
            if not self._deployed:  # (the kit has warned when the lock file is for another target)
                self.elsewhere = lock.mismatch(self.env.base_dir, self.env.workflow, PROVIDER, target, about)
        return self._deployed

    def resolve(self, request: AgentRequest, binding: BedrockBinding) -> Target:
        """What a request runs on: an AgentCore runtime, a managed agent (binding, else lock file), or
        a model."""
        if binding.runtime_arn:
            return Runtime(
                binding.runtime_arn,
                binding.qualifier,
                binding.payload,
                binding.user_id,
                binding.stream,
                binding.model or request.model,
                binding.fallback_model,
            )
        if binding.agent_id:
            return ManagedAgent(binding.agent_id, binding.alias_id or TEST_ALIAS_ID, "binding")
        deployed = self.deployed().get(request.agent)
        if deployed and deployed.get("agent_id"):
            return ManagedAgent(
                str(deployed["agent_id"]), str(deployed.get("alias_id") or TEST_ALIAS_ID), lock.LOCK_FILE
            )
        model = binding.model or request.model
        if model and self._deployed:  # deployed for this target, but without this agent: say so
            if request.agent not in self._said:
                self._said.add(request.agent)
                log.warning(
                    "warning: %s has %s agents of '%s' deployed here, but not '%s' (added since?): it runs"
                    " on its model %s. Deploy again: podium deploy FILE --provider bedrock",
                    lock.LOCK_FILE, PROVIDER, self.env.workflow, request.agent, model,
                )  # fmt: skip
            return Model(model, "model; not in the lock file's deployment")
        if model:
            return Model(model)
        raise InvalidRequest(
            f"agent '{request.agent}' has neither a Bedrock agent_id nor a model",
            fix=f"give agents.{request.agent} a model: (a Bedrock model id, or an alias under"
            f" providers.bedrock.models), or bind a managed agent with bedrock: {{agent_id: …, alias_id: …}},"
            " or create one with: podium deploy FILE --provider bedrock",
            provider=PROVIDER,
        )


def fix_for(request: AgentRequest, target: Target | None) -> str | None:
    """What to do about a request Bedrock rejected, where podium can tell."""
    if isinstance(target, Model) and "." not in target.model_id and not target.model_id.startswith("arn:"):
        return (
            f"'{target.model_id}' looks like a logical model name: map it to a Bedrock model id under"
            f" providers.bedrock.models (e.g. {target.model_id}: us.anthropic.claude-haiku-4-5-20251001-v1:0)"
        )
    if isinstance(target, ManagedAgent) and target.source != "binding":
        return (
            f"the agent recorded in {target.source} is gone: run podium deploy FILE --provider bedrock again"
        )
    if isinstance(target, ManagedAgent):
        return f"check agents.{request.agent}.bedrock.agent_id and alias_id against the Bedrock console"
    if isinstance(target, Runtime):
        return (
            f"check agents.{request.agent}.bedrock.runtime_arn ({ARN_EXAMPLE}) and qualifier; the"
            " runtime must exist in that account and region and be READY: podium deploy FILE --provider"
            " bedrock checks it (or: aws bedrock-agentcore-control get-agent-runtime"
            f" --agent-runtime-id {target.runtime_id})"
        )
    return None
