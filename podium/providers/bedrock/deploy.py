"""`podium deploy --provider bedrock`: a workflow's agents as managed Bedrock agents, ids in the lock file.

For each agent that runs on a model (not a python function, not already bound to an ``agent_id``):
CreateAgent (or UpdateAgent, when the lock file already names one that still exists), PrepareAgent,
then CreateAgentAlias (or UpdateAgentAlias) on ``providers.bedrock.alias_name``, which snapshots
the prepared draft as a new numbered version. The ids go to ``podium-lock.json`` next to the
workflow, where later runs against the same region and endpoint find them.

An agent's instructions are rendered once, here, with the workflow's default inputs: a managed
agent's instructions are fixed until the next deploy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podium.core.errors import BadInput, PodiumError, StepError
from podium.providers.bedrock.errors import PROVIDER, to_podium
from podium.providers.bedrock.lock import deployed_agents, record_deployment

if TYPE_CHECKING:
    from podium.core.spec import Agent, Workflow
    from podium.providers.bedrock.provider import BedrockProvider

INSTRUCTION_MIN, INSTRUCTION_MAX = 40, 4000
POLL_SECONDS, WAIT_SECONDS = 1.0, 300.0
_TAG_VALUE = re.compile(r"[^a-zA-Z0-9\s._:/=+@-]")


def agent_name(workflow: str, agent: str) -> str:
    """A valid Bedrock agent name, ``([0-9a-zA-Z][_-]?){1,100}``, from the workflow's and agent's."""
    name = re.sub(r"[^0-9a-zA-Z]+", "-", f"{workflow}-{agent}").strip("-_")
    return (name or "podium-agent")[:100].rstrip("-_")


def _instructions(workflow: Workflow, name: str, agent: Agent) -> str:
    from podium.core import templates
    from podium.core.errors import TemplateError

    text = agent.instructions or ""
    defaults = {k: v.default for k, v in workflow.inputs.items() if not v.required}
    try:
        rendered = templates.render(text, {"inputs": defaults}, where=f"agents.{name}.instructions")
    except TemplateError as exc:
        raise BadInput(
            f"agents.{name}.instructions cannot be rendered for a deploy: {exc.message}",
            fix="a managed agent's instructions may use only inputs with defaults ({{ inputs.x }})",
        ) from None
    text = str(rendered).strip()
    if not INSTRUCTION_MIN <= len(text) <= INSTRUCTION_MAX:
        raise BadInput(
            f"agents.{name}.instructions has {len(text)} characters; a Bedrock agent needs"
            f" {INSTRUCTION_MIN} to {INSTRUCTION_MAX}",
            fix=f"write fuller instructions for agents.{name}",
        )
    return text


def _plan(provider: BedrockProvider, workflow: Workflow) -> list[tuple[str, str, str]]:
    """(agent name, model id, instructions) for every agent a deploy manages; all problems at once."""
    plan: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for name, agent in workflow.agents.items():
        binding = agent.bindings.get(PROVIDER) or {}
        if agent.function is not None or binding.get("agent_id"):
            continue
        model = binding.get("model") or provider.resolve_model(agent.model)
        if not model:
            problems.append(
                f"agents.{name} has no model: give it model: (a Bedrock model id, or an alias under"
                " providers.bedrock.models) or bedrock: {model: …}"
            )
            continue
        try:
            plan.append((name, str(model), _instructions(workflow, name, agent)))
        except BadInput as exc:
            problems.append(str(exc))
    if problems:
        raise BadInput("cannot deploy:\n  " + "\n  ".join(problems))
    if not plan:
        raise BadInput(
            f"workflow '{workflow.name}' has no agents to deploy to Bedrock",
            fix="agents with a model: (and no function: or bedrock.agent_id) are deployed",
        )
    return plan


def _wait(describe: Callable[[], str], ready: str, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status = describe()
        if status == ready:
            return
        if status in ("FAILED", "DELETING"):
            raise PodiumError(f"{what} ended {status}", fix="see the agent in the Bedrock console")
        if time.monotonic() > deadline:
            raise PodiumError(
                f"{what} is still {status} after {WAIT_SECONDS:g}s", fix="run podium deploy again"
            )
        time.sleep(POLL_SECONDS)


def _exists(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it answers ResourceNotFoundException."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def deploy_workflow(
    provider: BedrockProvider, workflow: Workflow, *, echo: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Create or update each of the workflow's agents in Bedrock; returns what was done, per agent."""
    say = echo or (lambda _line: None)
    cfg = provider.config
    plan = _plan(provider, workflow)
    if not cfg.agent_role_arn:
        raise BadInput(
            "podium deploy needs the IAM role the Bedrock agents run as",
            fix="set providers.bedrock.agent_role_arn (a role Bedrock can assume to call its model)",
        )
    try:
        control = provider.client("bedrock-agent")
        region = provider.region
        known = deployed_agents(
            workflow.base_dir, workflow.name, region=region, endpoint_url=cfg.endpoint_url
        )
        done: dict[str, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []
        tags = {"podium:workflow": _TAG_VALUE.sub("_", workflow.name)[:256]}
        for name, model, instruction in plan:
            entry = known.get(name) or {}
            fields = {
                "agentName": agent_name(workflow.name, name),
                "foundationModel": model,
                "instruction": instruction,
                "agentResourceRoleArn": cfg.agent_role_arn,
                "idleSessionTTLInSeconds": cfg.idle_session_ttl,
                "description": f"podium: agent '{name}' of workflow '{workflow.name}'"[:200],
            }
            current = entry.get("agent_id") and _exists(
                lambda e=entry: control.get_agent(agentId=e["agent_id"])
            )
            if current:
                agent = control.update_agent(agentId=entry["agent_id"], **fields)["agent"]
                action = "updated"
            else:
                agent = control.create_agent(
                    **fields, tags={**tags, "podium:agent": _TAG_VALUE.sub("_", name)[:256]}
                )["agent"]
                action = "created"
            agent_id = agent["agentId"]
            say(f"{action} agent {name}: {agent_id} ({model})")
            control.prepare_agent(agentId=agent_id)
            _wait(
                lambda a=agent_id: control.get_agent(agentId=a)["agent"]["agentStatus"],
                "PREPARED",
                f"preparing agent {name} ({agent_id})",
            )
            alias_id = entry.get("alias_id") if current else None
            existing = alias_id and _exists(
                lambda a=agent_id, b=alias_id: control.get_agent_alias(agentId=a, agentAliasId=b)
            )
            if existing:
                alias = control.update_agent_alias(
                    agentId=agent_id, agentAliasId=alias_id, agentAliasName=cfg.alias_name
                )["agentAlias"]
            else:
                alias = control.create_agent_alias(agentId=agent_id, agentAliasName=cfg.alias_name)[
                    "agentAlias"
                ]
            alias_id = alias["agentAliasId"]
            _wait(
                lambda a=agent_id, b=alias_id: control.get_agent_alias(agentId=a, agentAliasId=b)[
                    "agentAlias"
                ]["agentAliasStatus"],
                "PREPARED",
                f"alias {cfg.alias_name} of agent {name}",
            )
            alias = control.get_agent_alias(agentId=agent_id, agentAliasId=alias_id)["agentAlias"]
            version = next(iter(alias.get("routingConfiguration") or []), {}).get("agentVersion")
            say(f"  alias {cfg.alias_name}: {alias_id} → version {version}")
            done[name] = {
                "agent_id": agent_id,
                "alias_id": alias_id,
                "agent_version": version,
                "agent_name": fields["agentName"],
                "foundation_model": model,
                "agent_arn": agent.get("agentArn"),
                "alias_arn": alias.get("agentAliasArn"),
            }
            rows.append({"agent": name, "action": action, **done[name]})
    except (PodiumError, StepError):
        raise
    except Exception as exc:
        raise to_podium(exc, "bedrock deploy") from None
    account = next((str(r["agent_arn"]).split(":")[4] for r in rows if r.get("agent_arn")), None)
    path = record_deployment(
        workflow.base_dir,
        workflow.name,
        region=region,
        endpoint_url=cfg.endpoint_url,
        account_id=account,
        agents={**known, **done},
    )
    say(f"recorded in {path}")
    return rows
