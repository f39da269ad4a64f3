"""`podium deploy --provider bedrock`: a workflow's agents as managed Bedrock agents, ids in the lock file.

For each agent that runs on a model (not a python function, not already bound to an ``agent_id``):
CreateAgent (or UpdateAgent, when the lock file already names one that still exists), its
``tools:`` as its action groups (RETURN_CONTROL: podium runs them; see action_groups.py),
PrepareAgent, then CreateAgentAlias (or UpdateAgentAlias) on ``providers.bedrock.alias_name``,
which snapshots the prepared draft as a new numbered version. The ids go to ``podium-lock.json`` next to the
workflow, where later runs against the same region and endpoint find them.

An agent bound to an AgentCore runtime (``runtime_arn``) is checked READY and recorded, not made
(`agentcore_deploy`). An agent's instructions are rendered once, here, with the workflow's default
inputs: a managed agent's instructions are fixed until the next deploy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podium.core.calls import Deployment
from podium.core.errors import BadInput, PodiumError, StepError
from podium.providers._kit import lock
from podium.providers._kit.deploying import deployable_agents, refuse, wait_until
from podium.providers.bedrock import action_groups
from podium.providers.bedrock.agentcore_deploy import check_runtimes, runtime_bindings
from podium.providers.bedrock.binding import lock_target
from podium.providers.bedrock.client import BedrockClients
from podium.providers.bedrock.errors import PROVIDER, to_podium

if TYPE_CHECKING:
    from podium.core.spec import Workflow

INSTRUCTION_MIN, INSTRUCTION_MAX = 40, 4000
POLL_SECONDS, WAIT_SECONDS = 1.0, 300.0
_TAG_VALUE = re.compile(r"[^a-zA-Z0-9\s._:/=+@-]")


def agent_name(workflow: str, agent: str) -> str:
    """A valid Bedrock agent name, ``([0-9a-zA-Z][_-]?){1,100}``, from the workflow's and agent's."""
    name = re.sub(r"[^0-9a-zA-Z]+", "-", f"{workflow}-{agent}").strip("-_")
    return (name or "podium-agent")[:100].rstrip("-_")


def _plan(
    workflow: Workflow, resolve_model: Callable[[str | None], str | None], *, runtimes: bool = False
) -> list[tuple[str, str, str]]:
    """(agent name, model id, instructions) for every agent a deploy manages; all problems at once.

    An agent bound to an AgentCore runtime is checked, not made (`agentcore_deploy`); with
    `runtimes`, a workflow with no other agent to deploy is not refused.
    """
    deployables, problems = deployable_agents(
        workflow, provider=PROVIDER, bound_by=("agent_id", "runtime_arn"), model_hint="a Bedrock model id",
        cloud="Bedrock", resolve_model=resolve_model, least=INSTRUCTION_MIN, most=INSTRUCTION_MAX,
    )  # fmt: skip
    plan = [(d.name, d.model, d.instructions) for d in deployables]
    if problems or not runtimes:
        refuse(workflow, plan, problems, provider=PROVIDER, cloud="Bedrock", bound_by="agent_id")
    return plan


def _wait(describe: Callable[[], str], ready: str, what: str) -> None:
    wait_until(describe, ready, what, seconds=WAIT_SECONDS, poll=POLL_SECONDS, console="the Bedrock console")


def _exists(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it answers ResourceNotFoundException."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def _same(agent: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether a deployed agent already is what the workflow says, and is ready to serve."""
    if agent.get("agentStatus") != "PREPARED":
        return False
    return all(agent.get(key) == value for key, value in fields.items())


def deploy_workflow(
    clients: BedrockClients,
    workflow: Workflow,
    *,
    resolve_model: Callable[[str | None], str | None],
    echo: Callable[[str], None] | None = None,
) -> list[Deployment]:
    """Create or update each of the workflow's agents in Bedrock; returns what was done, per agent."""
    say = echo or (lambda _line: None)
    cfg = clients.config
    plan = _plan(workflow, resolve_model, runtimes=bool(runtime_bindings(workflow)))
    # the agents' tools as action groups, read before anything is created (a bad tool is bad input)
    tools = {
        name: action_groups.groups(name, workflow.agents[name], workflow.base_dir) for name, _, _ in plan
    }
    if plan and not cfg.agent_role_arn:
        raise BadInput(
            "podium deploy needs the IAM role the Bedrock agents run as",
            fix="set providers.bedrock.agent_role_arn (a role Bedrock can assume to call its model)",
        )
    try:
        control = clients.client("bedrock-agent")
        target = lock_target(clients.region, clients.endpoint_url)
        known = lock.deployed(workflow.base_dir, workflow.name, PROVIDER, target)
        done, rows = check_runtimes(clients, workflow, say)  # AgentCore runtimes: checked, not made
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
            if (
                current
                and _same(current["agent"], fields)
                and entry.get("alias_id")
                and _exists(
                    lambda e=entry: control.get_agent_alias(agentId=e["agent_id"], agentAliasId=e["alias_id"])
                )
                and action_groups.in_step(control, entry["agent_id"], tools[name])
            ):
                # nothing changed: touch nothing (no update, no prepare, no new version)
                say(f"unchanged agent {name}: {entry['agent_id']} ({model})")
                done[name] = dict(entry)
                rows.append(Deployment(agent=name, action="unchanged", ids=done[name]))
                continue
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
            for change in action_groups.sync(control, agent_id, tools[name]):
                say(f"  {change}")
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
            rows.append(Deployment(agent=name, action=action, ids=done[name]))
    except (PodiumError, StepError):
        raise
    except Exception as exc:
        raise to_podium(exc, "bedrock deploy") from None
    arns = (r.ids.get("agent_arn") or r.ids.get("runtime_arn") for r in rows)
    account = next((str(arn).split(":")[4] for arn in arns if arn), None)
    path = lock.record(
        workflow.base_dir, workflow.name, PROVIDER, target, {**known, **done}, account_id=account
    )
    say(f"recorded in {path}")
    return rows
