"""`podium deploy --provider vertex`: a workflow's agents as ADK Agent Engines, names in the lock file.

Each agent that runs on a model (not a python function, not already bound to an ``engine``, and with
no python ``tools:``, which an engine could not call back) becomes
an ADK ``LlmAgent`` on Vertex AI Agent Engine, built by the service from an ADK agent config
(``spec.sourceCodeSpec.agentConfigSource``: name, model, instruction): there is no code to package
and no staging bucket. A deploy creates the engine, or updates the one the lock file names when it
still exists (unchanged when its config is the same). The engines' resource names go to
``podium-lock.json`` next to the workflow, where later runs against the same project, location and
endpoint find them and call them with ``stream_query`` and a session per step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podium.core.calls import Deployment
from podium.core.errors import BadInput, PodiumError, StepError
from podium.providers._kit import lock
from podium.providers._kit.deploying import deployable_agents, refuse
from podium.providers.vertex.client import VertexClients
from podium.providers.vertex.errors import PROVIDER, to_podium
from podium.providers.vertex.tags import label_value

if TYPE_CHECKING:
    from podium.core.spec import Workflow

INSTRUCTION_MAX = 32_000
_TEXT = {"type": "string"}


def _method(name: str, mode: str, required: list[str], *optional: str) -> dict[str, Any]:
    properties = {key: {"type": "object"} if key == "state" else _TEXT for key in (*required, *optional)}
    parameters = {"type": "object", "required": required, "properties": properties}
    return {"name": name, "api_mode": mode, "parameters": parameters}


# the AdkApp methods podium calls, as the service is told to expose them (an ADK config's app is an AdkApp)
CLASS_METHODS = [
    _method("create_session", "", ["user_id"], "session_id", "state"),
    _method("get_session", "", ["user_id", "session_id"]),
    _method("list_sessions", "", ["user_id"]),
    _method("delete_session", "", ["user_id", "session_id"]),
    _method("stream_query", "stream", ["message", "user_id"], "session_id"),
    _method("async_stream_query", "async_stream", ["message", "user_id"], "session_id"),
]


def lock_target(project: str, location: str, endpoint_url: str | None) -> dict[str, Any]:
    """What identifies a Vertex deployment in the lock file: project, location, endpoint (if not Google's)."""
    return {"project": project, "location": location, "endpoint_url": endpoint_url}


def adk_name(agent: str) -> str:
    """A valid ADK agent name (a Python identifier) for a workflow agent's."""
    name = re.sub(r"\W", "_", agent)
    return name if name and not name[0].isdigit() else f"agent_{name}"


def _plan(
    workflow: Workflow, resolve_model: Callable[[str | None], str | None]
) -> list[tuple[str, dict[str, Any]]]:
    """(agent, ADK agent config) for every agent a deploy manages; every problem at once."""
    deployables, problems = deployable_agents(
        workflow, provider=PROVIDER, bound_by="engine", model_hint="a Gemini model id", cloud="Vertex",
        resolve_model=resolve_model, least=1, most=INSTRUCTION_MAX,
    )  # fmt: skip
    # an engine made from an agent config has no code: it could not call the agent's python tools,
    # so an agent with tools: stays on Gemini, where podium runs them
    deployables = [d for d in deployables if not workflow.agents[d.name].tools]
    plan = [
        (
            d.name,
            {
                "name": adk_name(d.name),
                "agent_class": "LlmAgent",
                "model": d.model,
                "description": f"podium agent '{d.name}' of workflow '{workflow.name}'",
                "instruction": d.instructions,
            },
        )
        for d in deployables
    ]
    refuse(workflow, plan, problems, provider=PROVIDER, cloud="Vertex", bound_by="engine")
    return plan


def _config_of(resource: Any) -> dict[str, Any] | None:
    spec = getattr(resource, "spec", None)
    source = getattr(getattr(spec, "source_code_spec", None), "agent_config_source", None)
    adk = getattr(source, "adk_config", None)
    found = getattr(adk, "json_config", None)
    return dict(found) if isinstance(found, dict) else None


def deploy_workflow(
    clients: VertexClients,
    workflow: Workflow,
    *,
    location: str,
    endpoint_url: str | None,
    resolve_model: Callable[[str | None], str | None],
    echo: Callable[[str], None] | None = None,
) -> list[Deployment]:
    """Create or update each agent's Agent Engine; record the names in the lock file; one Deployment each."""
    plan = _plan(workflow, resolve_model)
    say = echo or (lambda _line: None)
    where = f"vertex deploy of workflow '{workflow.name}'"
    try:
        project = clients.project
        target = lock_target(project, location, endpoint_url)
        known = lock.deployed(workflow.base_dir, workflow.name, PROVIDER, target)
        engines = clients.vertexai().agent_engines
        done: list[Deployment] = []
        for name, config in plan:
            request = {
                "display_name": f"{workflow.name}-{name}"[:128],
                "description": config["description"],
                "labels": {"podium_workflow": label_value(workflow.name), "podium_agent": label_value(name)},
                "agent_config_source": {"adk_config": {"json_config": config}},
                "class_methods": CLASS_METHODS,
            }
            old = _existing(engines, known.get(name, {}).get("engine"))
            if old is None:
                made = engines.create(config=request).api_resource
                action = "created"
            elif _config_of(old) == config:
                made, action = old, "unchanged"
            else:
                made = engines.update(name=old.name, config=request).api_resource
                action = "updated"
            ids = {"engine": made.name, "display_name": made.display_name, "model": config["model"]}
            done.append(Deployment(agent=name, action=action, ids=ids))
            say(f"{action} Agent Engine for {name}: {made.name}")
    except (StepError, BadInput):
        raise
    except ValueError as exc:  # the SDK's own check of what it was given
        raise PodiumError(
            f"{where}: {exc}", fix="report this to podium: its deploy request was refused"
        ) from None
    except Exception as exc:
        raise to_podium(exc, where) from None
    agents = {**known, **{d.agent: d.ids for d in done}}
    path = lock.record(workflow.base_dir, workflow.name, PROVIDER, target, agents)
    say(f"recorded in {path}")
    return done


def _existing(engines: Any, name: str | None) -> Any:
    """The engine's resource, or None when there is none by that name (any more)."""
    if not name:
        return None
    from google.genai import errors

    try:
        return engines.get(name=name).api_resource
    except errors.ClientError as exc:
        if exc.code == 404:
            return None
        raise
