"""What every cloud's `podium deploy` shares: instructions rendered once, and waiting for the cloud.

A managed agent's instructions are fixed until the next deploy, so they are rendered here, once,
with the workflow's default inputs; an instruction that needs a run's input cannot be deployed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from podium.core.errors import BadInput, PodiumError

if TYPE_CHECKING:
    from podium.core.spec import Agent, Workflow


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
