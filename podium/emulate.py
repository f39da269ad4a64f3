"""Emulated runs: start the local emulator of every cloud a workflow uses and point the workflow at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from podium.core.calls import ProviderEnv
from podium.core.spec import Workflow
from podium.plugins.manager import Plugins


@contextmanager
def emulated(
    workflow: Workflow, plugins: Plugins, *, provider: str | None = None
) -> Iterator[tuple[Workflow, list[str]]]:
    """Start emulators for the providers `workflow` may call; yield the rebound workflow.

    Yields ``(workflow, names)``: a copy of the workflow whose ``providers.<name>`` settings point
    at the emulators, and the names of the providers that are emulated. Providers without an
    emulator (``local``) run as they are. The emulators stop when the block ends.
    """
    registry = plugins.providers
    env = ProviderEnv(workflow=workflow.name, base_dir=workflow.base_dir, mock=workflow.mock)
    settings = {name: dict(values) for name, values in workflow.providers.items()}
    names: list[str] = []
    with ExitStack() as stack:
        for name in workflow.providers_used(provider):
            cls = registry.get(name)
            if cls.emulator_options is None:
                continue
            emulator = stack.enter_context(cls.emulator(env))
            settings[name] = {**settings.get(name, {}), **emulator.settings()}
            names.append(name)
        yield workflow.model_copy(update={"providers": settings}), names
