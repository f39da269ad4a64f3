"""What every cloud's `podium deploy` shares: which agents it manages, their instructions rendered
once, every problem reported at once, and waiting for the cloud.

A managed agent's instructions are fixed until the next deploy, so they are rendered here, once,
with the workflow's default inputs; an instruction that needs a run's input cannot be deployed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podium.core.errors import BadInput, PodiumError

if TYPE_CHECKING:
    from podium.core.spec import Agent, Workflow


@dataclass(frozen=True, slots=True)
class Deployable:
    """One agent a deploy manages: its name, the workflow's definition, the cloud's model id, and
    its instructions as the managed agent will hold them."""

    name: str
    agent: Agent
    model: str
    instructions: str


def deployable_agents(
    workflow: Workflow,
    *,
    provider: str,
    bound_by: str | tuple[str, ...],
    model_hint: str,
    cloud: str,
    resolve_model: Callable[[str | None], str | None],
    least: int = 0,
    most: int | None = None,
) -> tuple[list[Deployable], list[str]]:
    """The agents a deploy of `workflow` to `provider` manages, and the problems found on the way.

    An agent is deployed unless it is a python function or its binding already names a managed
    agent (the `bound_by` key, or one of them: `agent_id`, `engine`, `agent`). Each needs a model
    (its binding's, else its `model:` through `resolve_model`; `model_hint` says what one looks like
    on this cloud) and instructions that render with the inputs' defaults. The caller adds its own
    problems, then calls `refuse`.
    """
    plan: list[Deployable] = []
    problems: list[str] = []
    keys = (bound_by,) if isinstance(bound_by, str) else bound_by
    for name, agent in workflow.agents.items():
        binding = agent.bindings.get(provider) or {}
        if agent.function is not None or any(binding.get(key) for key in keys):
            continue
        model = binding.get("model") or resolve_model(agent.model)
        if not model:
            problems.append(
                f"agents.{name} has no model: give it model: ({model_hint}, or an alias under"
                f" providers.{provider}.models) or {provider}: {{model: …}}"
            )
            continue
        try:
            instructions = render_instructions(workflow, name, agent, cloud=cloud, least=least, most=most)
        except BadInput as exc:
            problems.append(str(exc))
            continue
        plan.append(Deployable(name, agent, str(model), instructions))
    return plan, problems


def refuse(
    workflow: Workflow, plan: list[object], problems: list[str], *, provider: str, cloud: str, bound_by: str
) -> None:
    """Raise BadInput with every problem at once, or when there is nothing to deploy."""
    if problems:
        raise BadInput("cannot deploy:\n  " + "\n  ".join(problems))
    if not plan:
        raise BadInput(
            f"workflow '{workflow.name}' has no agents to deploy to {cloud}",
            fix=f"agents with a model: (and no function: or {provider}.{bound_by}) are deployed",
        )


def render_instructions(
    workflow: Workflow, name: str, agent: Agent, *, cloud: str, least: int = 0, most: int | None = None
) -> str:
    """Agent `name`'s instructions rendered with the inputs' defaults; `least` to `most` characters."""
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
    if len(text) < least or (most is not None and len(text) > most):
        raise BadInput(
            f"agents.{name}.instructions has {len(text)} characters; a {cloud} agent needs {least} to {most}",
            fix=f"write fuller instructions for agents.{name}",
        )
    return text


def wait_until(
    describe: Callable[[], str],
    ready: str,
    what: str,
    *,
    failed: tuple[str, ...] = ("FAILED", "DELETING"),
    seconds: float = 300.0,
    poll: float = 1.0,
    console: str = "the cloud's console",
) -> None:
    """Poll `describe()` until it says `ready`; a `failed` status or `seconds` without it is an error."""
    deadline = time.monotonic() + seconds
    while True:
        status = describe()
        if status == ready:
            return
        if status in failed:
            raise PodiumError(f"{what} ended {status}", fix=f"see the agent in {console}")
        if time.monotonic() > deadline:
            raise PodiumError(f"{what} is still {status} after {seconds:g}s", fix="run podium deploy again")
        time.sleep(poll)
