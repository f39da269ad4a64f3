"""A workflow made ready to run: its graph, each step's provider chain, and each provider resolved once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from podium.core.calls import Provider, ProviderConfig
from podium.core.errors import PodiumError, validation_problems
from podium.core.spec import Workflow


class ProviderLookup(Protocol):
    """Provider classes by name (`podium.plugins.manager.ProviderRegistry` is one)."""

    def get(self, name: str) -> type[Provider]: ...


@dataclass(frozen=True, slots=True)
class Resolved:
    """One provider as a run will use it: its class and validated settings, or why it cannot run."""

    name: str
    cls: type[Provider] | None = None
    config: ProviderConfig | None = None
    error: PodiumError | None = None


class Plan:
    """What the engine runs. Built once per run (and per resume), never per call.

    `override` is the `--provider` that rebinds every agent that is not a python function.
    A provider that is not installed, or whose settings do not validate, is resolved to its error:
    a step whose chain reaches it records that error and moves on to its fallback.
    """

    def __init__(self, workflow: Workflow, providers: ProviderLookup, override: str | None = None) -> None:
        self.workflow = workflow
        self.override = override
        self.graph = workflow.graph
        # A chain depends only on the step's agent and its own fallback: steps that share both
        # (most of a long workflow) share one, made once per workflow (a resume of 10,000 steps
        # plans too)
        self.chains: dict[str, list[str]] = workflow.chains(override)
        used = workflow.chain_providers(override)
        self.providers: dict[str, Resolved] = {name: _resolve(name, workflow, providers) for name in used}

    def chain(self, sid: str) -> list[str]:
        """The providers step `sid` tries, in order."""
        return self.chains[sid]

    def provider(self, name: str) -> Resolved:
        return self.providers.get(name) or Resolved(
            name, error=PodiumError(f"provider '{name}' is not in this run's plan")
        )

    def bindings(self) -> dict[str, Any]:
        """Each agent's providers, model and function, as RunStarted records them."""
        out = {}
        for aname, agent in self.workflow.agents.items():
            sid = next((s for s, step in self.workflow.steps.items() if step.agent == aname), None)
            chain = self.chains[sid] if sid is not None else []
            out[aname] = {"providers": chain, "model": agent.model, "function": agent.function}
        return out


def _resolve(name: str, workflow: Workflow, providers: ProviderLookup) -> Resolved:
    try:
        cls = providers.get(name)
    except PodiumError as exc:
        return Resolved(name, error=exc)
    try:
        config = cls.Config.model_validate(workflow.providers.get(name, {}))
    except ValidationError as exc:
        problems = validation_problems(exc)
        return Resolved(
            name,
            cls,
            error=PodiumError(
                f"providers.{name}: {problems}", fix=f"correct providers.{name} in the workflow"
            ),
        )
    return Resolved(name, cls, config)
