"""What an agent runs on in Vertex: its ``vertex:`` binding's Agent Engine, else a Gemini model.

An agent runs on an **Agent Engine** (a deployed reasoning engine, e.g. an ADK agent) when its
``vertex:`` binding names ``engine``: a full resource name
(``projects/P/locations/L/reasoningEngines/ID``) or just the numeric id, which is completed with
``providers.vertex.project`` and ``location``. Otherwise it runs on a **Gemini model**:
``vertex: {model: …}`` or the agent's ``model:`` (through ``providers.vertex.models`` aliases),
called with ``generateContent`` and the agent's instructions as the system instruction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from podium.core.calls import AgentRequest
from podium.core.errors import InvalidRequest
from podium.providers._kit.lock import LOCK_FILE
from podium.providers.vertex.errors import PROJECT_FIX, PROVIDER

ENGINE_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/reasoningEngines/([0-9]+)$")
ENGINE = r"^(projects/[^/]+/locations/[^/]+/reasoningEngines/[0-9]+|[0-9]{1,30})$"


class VertexBinding(BaseModel):
    """An agent's ``vertex:`` section: an Agent Engine (and how to call it) or a Gemini model id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: str | None = Field(
        None,
        pattern=ENGINE,
        description="An Agent Engine: projects/P/locations/L/reasoningEngines/ID, or the numeric ID.",
    )
    method: Literal["stream_query", "query"] = Field(
        "stream_query",
        description="stream_query: an ADK agent (sessions, events with usage); query: an agent whose"
        " query(input=…) returns its output (LangChain-style templates; no session, usage unknown).",
    )
    model: str | None = Field(
        None,
        description="A Gemini model id (gemini-2.5-flash), called directly; beside an engine, the model"
        " the engine runs (the call is priced as it).",
    )
    engine_tools: bool = Field(
        False,
        description="The engine has the agent's tools built in (deployed with it, as ADK tools): podium"
        " runs none of the agent's python tools: itself. Without it, an engine binding of an agent that"
        " declares tools: is refused, since an Agent Engine cannot call back into podium.",
    )


BINDING_FIX = (
    "write it as vertex: {engine: projects/P/locations/L/reasoningEngines/ID} (or the numeric id),"
    " optionally with method: query, or vertex: {model: gemini-2.5-flash}"
)


@dataclass(frozen=True, slots=True)
class Engine:
    name: str  # the full resource name
    method: str
    source: str = "binding"  # or the lock file that named it
    model: str | None = None  # the Gemini model it runs, when known (for the cost)
    own_tools: bool = False  # the binding says the engine has the agent's tools built in


@dataclass(frozen=True, slots=True)
class Model:
    model_id: str


Target = Engine | Model


def resolve(
    request: AgentRequest,
    binding: VertexBinding,
    project: str | None,
    location: str,
    deployed: Mapping[str, Any] | None = None,
) -> Target:
    """What a request runs on: the binding's Agent Engine, else the one `podium deploy` made, else a model."""
    model = binding.model or request.model  # beside an engine: the model it runs, for the cost
    if binding.engine:
        if ENGINE_NAME.match(binding.engine):
            return Engine(binding.engine, binding.method, model=model, own_tools=binding.engine_tools)
        if not project:
            raise InvalidRequest(
                f"agents.{request.agent}.vertex.engine is the id {binding.engine}, and no project is"
                " configured to complete it",
                fix=PROJECT_FIX + "; or give the full name projects/P/locations/L/reasoningEngines/ID",
                provider=PROVIDER,
            )
        name = f"projects/{project}/locations/{location}/reasoningEngines/{binding.engine}"
        return Engine(name, binding.method, model=model, own_tools=binding.engine_tools)
    if deployed and deployed.get("engine"):
        made = str(deployed.get("model") or "") or model
        return Engine(str(deployed["engine"]), "stream_query", source=LOCK_FILE, model=made)
    if model:
        return Model(model)
    raise InvalidRequest(
        f"agent '{request.agent}' has neither a Vertex Agent Engine nor a model",
        fix=f"give agents.{request.agent} a model: (a Gemini model id such as gemini-2.5-flash, or an"
        f" alias under providers.vertex.models), or bind an Agent Engine with"
        f" vertex: {{engine: projects/P/locations/L/reasoningEngines/ID}}",
        provider=PROVIDER,
    )


def check_tools(request: AgentRequest, target: Engine) -> None:
    """An engine cannot call podium's python tools back (it has no return control): an agent that
    declares ``tools:`` runs on an engine only when its binding says the engine has them built in."""
    if request.tools and not target.own_tools:
        raise InvalidRequest(
            f"agent '{request.agent}' declares python tools ({', '.join(request.tools)}), which the Vertex"
            f" Agent Engine {target.name} cannot call: an engine runs only the tools deployed inside it",
            fix=f"bind the agent to a Gemini model (vertex: {{model: gemini-2.5-flash}}), where podium"
            f" runs its tools; or, if the engine has these tools built in (ADK), set"
            f" agents.{request.agent}.vertex.engine_tools: true",
            provider=PROVIDER,
        )


def fix_for(request: AgentRequest, target: Target | None) -> str | None:
    """What to do about a request Vertex rejected, where podium can tell."""
    if isinstance(target, Model) and not target.model_id.startswith(("gemini", "publishers/", "projects/")):
        return (
            f"'{target.model_id}' does not look like a Gemini model id: map it under"
            f" providers.vertex.models (e.g. {target.model_id}: gemini-2.5-flash)"
        )
    if isinstance(target, Engine) and target.source != "binding":
        return (
            f"the Agent Engine recorded in {target.source} is gone: run podium deploy FILE --provider vertex"
        )
    if isinstance(target, Engine):
        return (
            f"check agents.{request.agent}.vertex.engine against the Agent Engines of the project"
            " (Vertex AI console → Agent Engine), and providers.vertex.project and location"
        )
    return None
