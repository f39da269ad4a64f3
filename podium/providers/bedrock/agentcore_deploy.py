"""`podium deploy` for agents bound to AgentCore runtimes: check each is there and READY; record it.

An AgentCore runtime is a container image that its owner builds, pushes and creates outside podium
(the AgentCore CLI, CDK, the console); podium builds no image and changes no runtime. A deploy asks
the control plane (``bedrock-agentcore-control`` GetAgentRuntime, and GetAgentRuntimeEndpoint for
a named ``qualifier``) that each bound runtime exists in the provider's account and region and is
READY, reports every problem at once, and records the runtime's ARN and version in
``podium-lock.json`` beside the classic agents a deploy makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podium.core.calls import Deployment
from podium.core.errors import BadInput
from podium.providers.bedrock.agentcore import ARN_EXAMPLE, CONTROL_SERVICE, RUNTIME_ARN
from podium.providers.bedrock.client import BedrockClients
from podium.providers.bedrock.errors import PROVIDER

if TYPE_CHECKING:
    from podium.core.spec import Workflow


def runtime_bindings(workflow: Workflow) -> dict[str, dict[str, Any]]:
    """The workflow's agents bound to an AgentCore runtime: name → their ``bedrock:`` section."""
    return {
        name: dict(agent.bindings.get(PROVIDER) or {})
        for name, agent in workflow.agents.items()
        if agent.function is None and (agent.bindings.get(PROVIDER) or {}).get("runtime_arn")
    }


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or "")


def check_runtimes(
    clients: BedrockClients, workflow: Workflow, say: Callable[[str], None]
) -> tuple[dict[str, dict[str, Any]], list[Deployment]]:
    """Each bound runtime checked READY (every problem at once, as BadInput); what the lock records."""
    from botocore.exceptions import ClientError

    bound = runtime_bindings(workflow)
    if not bound:
        return {}, []
    control = clients.client(CONTROL_SERVICE)
    region = clients.region
    problems: list[str] = []
    done: dict[str, dict[str, Any]] = {}
    rows: list[Deployment] = []
    for name, section in bound.items():
        arn = str(section["runtime_arn"])
        where = f"agents.{name}.bedrock.runtime_arn"
        match = RUNTIME_ARN.match(arn)
        if match is None:  # (the loader says so first; a file changed since is caught here)
            problems.append(f"{where}: '{arn}' is not an AgentCore runtime ARN; one looks like {ARN_EXAMPLE}")
            continue
        if match.group("region") != region:
            problems.append(
                f"{where}: the runtime is in {match.group('region')}, but podium deploys to {region}"
                f" (fix: set providers.bedrock.region: {match.group('region')})"
            )
            continue
        runtime_id = match.group("id")
        try:
            got = control.get_agent_runtime(agentRuntimeId=runtime_id)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            problems.append(
                f"{where}: no AgentCore runtime {runtime_id} in {region} for these credentials (fix: create"
                " it with the AgentCore CLI or console, or correct the ARN; podium builds no image)"
            )
            continue
        if str(got.get("agentRuntimeArn") or arn) != arn:
            problems.append(
                f"{where}: the runtime {runtime_id} these credentials see is {got.get('agentRuntimeArn')},"
                " another account's (fix: use that account's credentials, or correct the ARN)"
            )
            continue
        status = str(got.get("status"))
        if status != "READY":
            reason = f": {got['failureReason']}" if got.get("failureReason") else ""
            problems.append(
                f"{where}: the runtime {runtime_id} is {status}{reason}, not READY (fix: wait until it is"
                f" READY (aws bedrock-agentcore-control get-agent-runtime --agent-runtime-id {runtime_id}),"
                " or fix and update the runtime; then deploy again)"
            )
            continue
        version = str(got.get("agentRuntimeVersion") or "")
        qualifier = section.get("qualifier")
        if qualifier and qualifier != "DEFAULT" and not str(qualifier).isdigit():
            try:
                endpoint = control.get_agent_runtime_endpoint(
                    agentRuntimeId=runtime_id, endpointName=qualifier
                )
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                problems.append(
                    f"agents.{name}.bedrock.qualifier: the runtime {runtime_id} has no endpoint '{qualifier}'"
                    " (fix: name one of its endpoints, a version number, or leave it out for DEFAULT)"
                )
                continue
            version = str(endpoint.get("liveVersion") or endpoint.get("targetVersion") or version)
        elif qualifier and str(qualifier).isdigit():
            version = str(qualifier)
        done[name] = {
            "runtime_arn": arn,
            "runtime_id": runtime_id,
            "runtime_name": got.get("agentRuntimeName"),
            "runtime_version": version,
            "qualifier": qualifier or "DEFAULT",
            "status": status,
        }
        say(f"checked AgentCore runtime {name}: {runtime_id} version {version} is READY")
        rows.append(Deployment(agent=name, action="unchanged", ids=done[name]))
    if problems:
        raise BadInput("cannot deploy:\n  " + "\n  ".join(problems))
    return done, rows
