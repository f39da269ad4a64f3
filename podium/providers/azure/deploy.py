"""`podium deploy --provider azure`: a workflow's agents as Foundry prompt agents, versions in the lock file.

For each agent that runs on a model (not a python function, not already bound to a Foundry
``agent``): the agent's definition (model deployment, instructions rendered once with the
workflow's default inputs, its tools as function tools) is compared with the latest version in
the project; a new version is made (``agents.create_version``) only when it differs, so deploying
twice changes nothing. The agent's name and version go to ``podium-lock.json`` next to the
workflow, where later runs against the same endpoint find them (and run that version).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podium.core.calls import Deployment
from podium.core.errors import PodiumError, StepError
from podium.providers._kit import lock
from podium.providers._kit.deploying import deployable_agents, refuse
from podium.providers._kit.functions import FunctionCache
from podium.providers._kit.signatures import description, parameters_schema
from podium.providers.azure.binding import lock_target
from podium.providers.azure.client import AzureClients
from podium.providers.azure.errors import PROVIDER, to_podium
from podium.providers.azure.responses import TAG_AGENT

if TYPE_CHECKING:
    from podium.core.spec import Workflow

TAG_WORKFLOW = "podium_workflow"


def agent_name(workflow: str, agent: str) -> str:
    """A valid Foundry agent name (alphanumerics, inner hyphens, at most 63 characters)."""
    name = re.sub(r"[^0-9A-Za-z]+", "-", f"{workflow}-{agent}").strip("-")
    return (name or "podium-agent")[:63].rstrip("-")


def _tools(workflow: Workflow, name: str, tools: dict[str, str], problems: list[str]) -> list[dict[str, Any]]:
    functions = FunctionCache(workflow.base_dir)
    made = []
    for tool, reference in tools.items():
        try:
            fn = functions.load(reference)
        except Exception as exc:
            problems.append(
                f"agents.{name}.tools.{tool}: cannot load {reference} ({type(exc).__name__}: {exc})"
            )
            continue
        entry: dict[str, Any] = {
            "type": "function",
            "name": tool,
            "parameters": parameters_schema(fn),
            "strict": False,
        }
        if about := description(fn):
            entry["description"] = about
        made.append(entry)
    return made


def _plan(
    workflow: Workflow, resolve_model: Callable[[str | None], str | None]
) -> list[tuple[str, dict[str, Any]]]:
    """(agent, definition) for every agent a deploy manages; all problems at once."""
    deployables, problems = deployable_agents(
        workflow, provider=PROVIDER, bound_by="agent", model_hint="a model deployment's name",
        cloud="Foundry", resolve_model=resolve_model,
    )  # fmt: skip
    plan: list[tuple[str, dict[str, Any]]] = []
    for d in deployables:
        definition: dict[str, Any] = {"kind": "prompt", "model": d.model, "instructions": d.instructions}
        tools = _tools(workflow, d.name, d.agent.tool_functions, problems)
        if tools:
            definition["tools"] = tools
        plan.append((d.name, definition))
    refuse(workflow, plan, problems, provider=PROVIDER, cloud="Azure", bound_by="agent")
    return plan


def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the latest version's definition already is what the deploy would make."""
    return all(current.get(key) == value for key, value in wanted.items()) and (
        bool(current.get("tools")) == bool(wanted.get("tools"))
    )


def deploy_workflow(
    clients: AzureClients,
    workflow: Workflow,
    *,
    resolve_model: Callable[[str | None], str | None],
    echo: Callable[[str], None] | None = None,
) -> list[Deployment]:
    """Create a version of each of the workflow's Foundry agents whose definition changed."""
    say = echo or (lambda _line: None)
    plan = _plan(workflow, resolve_model)
    try:
        from azure.core.exceptions import ResourceNotFoundError

        agents = clients.project().agents
        target = lock_target(clients.endpoint)
        known = lock.deployed(workflow.base_dir, workflow.name, PROVIDER, target)
        done: dict[str, dict[str, Any]] = {}
        rows: list[Deployment] = []
        for name, definition in plan:
            cloud_name = agent_name(workflow.name, name)
            try:
                latest = agents.get(cloud_name).versions.latest
            except ResourceNotFoundError:
                latest = None
            if latest is not None and _same(latest.definition.as_dict(), definition):
                version, action = latest.version, "unchanged"
            else:
                made = agents.create_version(
                    cloud_name,
                    body={
                        "definition": definition,
                        "description": f"podium: agent '{name}' of workflow '{workflow.name}'"[:512],
                        "metadata": {TAG_WORKFLOW: workflow.name[:512], TAG_AGENT: name[:512]},
                    },
                )
                version, action = made.version, "created" if latest is None else "updated"
            say(f"{action} agent {name}: {cloud_name} version {version} ({definition['model']})")
            done[name] = {
                "agent_name": cloud_name,
                "agent_version": str(version),
                "model": definition["model"],
            }
            rows.append(Deployment(agent=name, action=action, ids=done[name]))
    except (PodiumError, StepError):
        raise
    except Exception as exc:
        raise to_podium(exc, "azure deploy") from None
    path = lock.record(workflow.base_dir, workflow.name, PROVIDER, target, {**known, **done})
    say(f"recorded in {path}")
    return rows
