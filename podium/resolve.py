"""What each agent resolves to on a provider, before anything runs: model classes laid, and checked.

The model-class table (`podium/cost/model_classes.yaml` and the user's files) becomes the default of
each provider's `models:` (`lay_classes`); the workflow's own `providers.<name>.models`
entries win. `problems` says what would not resolve: a model class with no model on a provider a
step runs on (every run checks this before it starts), and, for `podium validate`, an agent with
neither a binding nor a model on a cloud, or a local step with nothing to answer it. Each problem
names the workflow file, the line, the field and the fix. `resolved` says what each agent is bound
to on each provider, and why.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podium.core.errors import Problem, WorkflowError
from podium.core.loader import Positions, dotted, suggest
from podium.core.loader.positions import read_yaml
from podium.core.spec import Agent, Workflow
from podium.cost.model_classes import ENV, ModelClasses, process_model_classes
from podium.plugins.manager import Plugins

LOCK_FILE = "podium-lock.json"
# the keys of a binding or a lock-file entry that name a managed agent (Bedrock agent_id, Vertex
# engine, Foundry agent / agent_name, an AgentCore runtime_arn)
AGENT_KEYS = ("agent_id", "engine", "agent", "agent_name", "runtime_arn")
# a word such as "fsat" reads as a mistyped class; ids have dots, dashes, digits or slashes
_WORD = re.compile(r"^[A-Za-z_]+$")


def model_classes(files: Iterable[str | Path] = ()) -> ModelClasses:
    """The table for this process: podium's, then each file in $PODIUM_MODEL_CLASSES (separated as
    PATH is), then `files` (`--model-classes`), the later winning."""
    return process_model_classes(files)


def lay_classes(workflow: Workflow, classes: ModelClasses, providers: Collection[str]) -> Workflow:
    """`workflow` with the table's classes under each of `providers`' `models:`, beneath its own
    entries (an explicit id is not a class, so it is never rewritten)."""
    laid = {name: dict(values) for name, values in workflow.providers.items()}
    changed = False
    for name in providers:
        table = classes.for_provider(name)
        if not table:
            continue
        own = dict(laid.get(name, {}).get("models") or {})
        merged = {**table, **own}
        if merged != own:
            laid[name] = {**laid.get(name, {}), "models": merged}
            changed = True
    return workflow.model_copy(update={"providers": laid}) if changed else workflow


@dataclass(frozen=True, slots=True)
class Resolution:
    """What one agent runs on with one provider: `kind` (agent, model, function, mock, none),
    the id, and where that came from (`via`)."""

    agent: str
    provider: str
    kind: str
    id: str | None
    via: str

    def row(self) -> dict[str, Any]:
        return {
            "agent": self.agent, "provider": self.provider, "kind": self.kind, "id": self.id, "via": self.via
        }  # fmt: skip


class Resolver:
    """Resolves a workflow's agents on its providers against a model-class table.

    `workflow` is the workflow as written (with `--set` laid); the table is laid by `laid()`.
    """

    def __init__(self, workflow: Workflow, classes: ModelClasses, plugins: Plugins) -> None:
        self.workflow = workflow
        self.classes = classes
        self.registry = plugins.providers
        self._positions: Positions | None = None

    def laid(self) -> Workflow:
        """The workflow with the table laid under every installed provider's `models:`."""
        return lay_classes(self.workflow, self.classes, self.registry.names())

    # --- what runs where ----------------------------------------------------------------------

    def pairs(self, override: str | None = None) -> Iterator[tuple[str, str, list[str]]]:
        """(agent, provider, steps) for every provider some step may call its agent on."""
        seen: dict[tuple[str, str], list[str]] = {}
        for sid, step in self.workflow.steps.items():
            if step.agent is None or step.agent not in self.workflow.agents:
                continue
            for provider in self.workflow.chain(step, override):
                seen.setdefault((step.agent, provider), []).append(sid)
        for (agent, provider), steps in seen.items():
            yield agent, provider, steps

    def _own_models(self, provider: str) -> dict[str, str]:
        return dict(self.workflow.providers.get(provider, {}).get("models") or {})

    def model(self, agent: Agent, provider: str) -> tuple[str, str] | None:
        """The model id `agent.model` names on `provider`, and why; None when it has no model."""
        name = agent.model
        if name is None:
            return None
        own = self._own_models(provider)
        if name in own:
            return own[name], f"providers.{provider}.models.{name}"
        mapped = self.classes.model(name, provider)
        if mapped is not None:
            return mapped, f"class {name} ({_short(self.classes.models[name][provider].where)})"
        return name, "model"

    def resolution(self, aname: str, provider: str, steps: Sequence[str]) -> Resolution:
        """What `aname` runs on with `provider` (as far as can be told without calling it)."""
        agent = self.workflow.agents[aname]
        if agent.function is not None:
            return Resolution(aname, "local", "function", agent.function, "function")
        section = agent.bindings.get(provider)
        if isinstance(section, dict) and section:
            via = f"agents.{aname}.{provider}"
            key = next((k for k in AGENT_KEYS if section.get(k)), None)
            if key is not None:
                return Resolution(aname, provider, "agent", str(section[key]), via)
            if section.get("model"):
                return Resolution(aname, provider, "model", str(section["model"]), via)
        if provider in self._deployable() and (locked := self._locked(provider).get(aname)):
            return Resolution(aname, provider, "agent", locked, LOCK_FILE)
        if provider == "local":
            settings = self.workflow.providers.get("local", {})
            mock = self.workflow.mock
            keys = [s if s in mock else aname for s in steps if s in mock or aname in mock]
            if keys and settings.get("use_mock", True):
                return Resolution(aname, provider, "mock", ", ".join(dict.fromkeys(keys)), "mock")
            if not settings.get("base_url"):
                return Resolution(aname, provider, "none", None, "no function, mock reply or endpoint")
        found = self.model(agent, provider)
        if found is None:
            return Resolution(aname, provider, "none", None, "no binding and no model")
        return Resolution(aname, provider, "model", found[0], found[1])

    def resolved(self, override: str | None = None) -> list[Resolution]:
        """What every agent runs on with every provider its steps may call, primary and fallbacks."""
        return [self.resolution(agent, provider, steps) for agent, provider, steps in self.pairs(override)]

    # --- what would not resolve -----------------------------------------------------------------

    def problems(
        self, override: str | None = None, *, bindings: bool = True, only: str | None = None
    ) -> list[Problem]:
        """Everything that would not resolve on the providers the steps may call (with `override`,
        as `run --provider` rebinds them; with `only`, on that provider alone). Without `bindings`,
        only unmapped model classes: what a run checks before it starts."""
        out: list[Problem] = []
        for aname, provider, steps in self.pairs(override):
            agent = self.workflow.agents[aname]
            if agent.function is not None or (only is not None and provider != only):
                continue
            section = agent.bindings.get(provider)
            bound = isinstance(section, dict) and bool(section)
            if not bound:
                out.extend(self._model_problems(aname, agent, provider, steps))
            if bindings and not bound:
                out.extend(self._binding_problems(aname, agent, provider, steps))
        return out

    def check(self, override: str | None = None, *, bindings: bool = True, only: str | None = None) -> None:
        """Raise a WorkflowError listing every problem `problems` finds."""
        found = self.problems(override, bindings=bindings, only=only)
        if found:
            found.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise WorkflowError(found)

    def _model_problems(self, aname: str, agent: Agent, provider: str, steps: list[str]) -> list[Problem]:
        name = agent.model
        if name is None or name in self._own_models(provider):
            return []
        runs = _runs(steps, provider)
        if name in self.classes:
            if self.classes.model(name, provider) is not None or self.registry.get(provider).any_model:
                return []
            has = self.classes.providers(name)
            where = self.classes.where(name)
            return [
                self._problem(
                    ("agents", aname, "model"),
                    f"model class '{name}' has no model for {provider} ({runs}); the class is mapped"
                    f" for {', '.join(has) or 'no provider'} in {where}",
                    fix=f"map it for this workflow under providers.{provider}.models ({name}: <{_a(provider)}"
                    f" model id>), or add {provider}: <model id> to classes.{name}.models in a model-class"
                    f" file of your own (--model-classes FILE or ${ENV}; see docs/model-classes.md)",
                )
            ]
        close = suggest(name, self.classes.names()) if _WORD.match(name) else ""
        if close and provider != "local":
            return [
                self._problem(
                    ("agents", aname, "model"),
                    f"model '{name}' is not a model class and providers.{provider}.models does not map"
                    f" it ({runs}){close}",
                    fix=f"use a class ({', '.join(self.classes.names())}), {_a(provider)} model id, or map"
                    f" '{name}' under providers.{provider}.models",
                )
            ]
        return []

    def _binding_problems(self, aname: str, agent: Agent, provider: str, steps: list[str]) -> list[Problem]:
        runs = _runs(steps, provider)
        if provider in self._deployable():
            if agent.model is not None or aname in self._locked(provider):
                return []
            fix = self.registry.get(provider).binding_fix or f"bind it under agents.{aname}.{provider}"
            return [
                self._problem(
                    ("agents", aname),
                    f"agent '{aname}' has neither {_a(provider)} binding nor a model ({runs})",
                    fix=f"give it a model: (a class such as {', '.join(self.classes.names()[:2])}, or"
                    f" {_a(provider)} model id); or {fix};"
                    f" or deploy it: podium deploy FILE --provider {provider}",
                )
            ]
        if provider == "local":
            settings = self.workflow.providers.get("local", {})
            if settings.get("base_url"):
                return []
            if settings.get("use_mock", True):
                mock = self.workflow.mock
                missing = [s for s in steps if s not in mock and aname not in mock]
            else:
                missing = list(steps)
            return [
                self._problem(
                    ("steps", sid, "agent"),
                    f"step '{sid}' runs agent '{aname}' on local, which has no function, no mock reply"
                    " and no endpoint for it",
                    fix=f"add a reply under mock: (keyed '{sid}' or '{aname}'), give the agent a function:,"
                    " set providers.local.base_url to an OpenAI-compatible API, or run it on a cloud"
                    " (--provider)",
                )
                for sid in missing
            ]
        return self._required_binding_problems(aname, agent, provider, runs)

    def _required_binding_problems(self, aname: str, agent: Agent, provider: str, runs: str) -> list[Problem]:
        # a provider whose binding has required fields (a2a's url) cannot run an agent without one:
        # the run would fail at its first call, so validate says so first
        cls = self.registry.get(provider)
        if agent.model is not None or cls.Binding is None:
            return []
        try:
            cls.Binding.model_validate({})
        except ValidationError:
            fix = cls.binding_fix or f"write agents.{aname}.{provider} with the fields of its binding"
            return [
                self._problem(
                    ("agents", aname),
                    f"agent '{aname}' has no {provider} binding ({runs})",
                    fix=f"{fix}; or run it elsewhere (its provider:, or --provider)",
                )
            ]
        return []

    # --- helpers ----------------------------------------------------------------------------

    def _deployable(self) -> set[str]:
        return {name for name in self.registry.names() if self.registry.get(name).can_deploy}

    def _locked(self, provider: str) -> dict[str, str]:
        """Agents `podium deploy` recorded for this workflow on `provider`, for any target (the
        target a run uses is only known once its settings are)."""
        path = self.workflow.base_dir / LOCK_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        out: dict[str, str] = {}
        entries = ((data.get("workflows") or {}).get(self.workflow.name) or {}).get(provider) or []
        for entry in entries if isinstance(entries, list) else []:
            for aname, ids in ((entry or {}).get("agents") or {}).items():
                if isinstance(ids, dict):
                    ident = next((ids[k] for k in AGENT_KEYS if ids.get(k)), None)
                    out.setdefault(aname, str(ident or "deployed"))
        return out

    def _problem(self, path: tuple[str | int, ...], message: str, *, fix: str) -> Problem:
        line = col = None
        positions = self._file_positions()
        probe = path
        while probe:
            if probe in positions:
                line, col = positions[probe]
                break
            probe = probe[:-1]
        file = str(self.workflow.path) if self.workflow.path else "<workflow>"
        return Problem(file, dotted(path), message, line, col, fix)

    def _file_positions(self) -> Positions:
        if self._positions is None:
            self._positions = {}
            path = self.workflow.path
            if path is not None and path.is_file():
                # a file changed under us leaves the problems right, only without lines
                with contextlib.suppress(OSError, WorkflowError):
                    self._positions = read_yaml(path.read_text(encoding="utf-8"), str(path))[1]
        return self._positions


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _runs(steps: Sequence[str], provider: str) -> str:
    named = ", ".join(steps)
    return f"step{'s' if len(steps) > 1 else ''} {named} run{'' if len(steps) > 1 else 's'} it on {provider}"


def _short(where: str) -> str:
    """A table's place as people read it: the file's name and line (the full path is in errors)."""
    head, sep, line = where.rpartition(":")
    return f"{Path(head).name}:{line}" if sep and line.isdigit() else where
