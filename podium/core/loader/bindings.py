"""Checks of what names a provider: provider names, their settings, and agents' bindings."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from podium.core.loader.positions import Path_
from podium.core.loader.problems import _field_names, _Problems, shown, suggest
from podium.core.spec import Agent, Workflow

# Providers podium ships as extras; named in errors even when not installed.
CLOUD_EXTRAS = ("bedrock", "vertex", "azure", "a2a")


def _check_providers(wf: Workflow, known: Collection[str] | None, p: _Problems) -> None:
    if known is None:
        return
    listing = ", ".join(sorted(known))

    def check(path: Path_, name: str) -> None:
        if name in known:
            return
        if name in CLOUD_EXTRAS:
            p.add(
                path,
                f"provider '{name}' is not installed (installed: {listing})",
                fix=f"pip install 'podium[{name}]'",
            )
            return
        p.add(
            path,
            f"unknown provider '{name}'{suggest(name, {*known, *CLOUD_EXTRAS})}",
            fix=f"installed providers: {listing}; the clouds come as extras"
            f" ({', '.join(CLOUD_EXTRAS)}), e.g. pip install 'podium[bedrock]'",
        )

    check(("defaults", "provider"), wf.defaults.provider)
    for i, name in enumerate(wf.defaults.fallback):
        check(("defaults", "fallback", i), name)
    for pname in wf.providers:
        check(("providers", pname), pname)
    for aname, agent in wf.agents.items():
        if agent.provider:
            check(("agents", aname, "provider"), agent.provider)
        for i, name in enumerate(agent.fallback or ()):
            check(("agents", aname, "fallback", i), name)
        allowed = [*_field_names(Agent), *known]
        for key, value in agent.bindings.items():
            if key not in known:
                p.add(
                    ("agents", aname, key),
                    f"unknown key '{key}'{suggest(key, allowed)}",
                    fix=f"keys allowed in an agent: {', '.join(_field_names(Agent))},"
                    f" or a provider name ({listing}) holding that provider's binding",
                )
            elif not isinstance(value, dict):
                p.add(
                    ("agents", aname, key),
                    f"the {key} binding must be a mapping (got {type(value).__name__})",
                    fix=f"write it as {key}: {{key: value, ...}}",
                )
    for sid, step in wf.steps.items():
        for i, name in enumerate(step.fallback or ()):
            check(("steps", sid, "fallback", i), name)


def _check_provider_settings(
    wf: Workflow, configs: Mapping[str, type[BaseModel]] | None, p: _Problems
) -> None:
    if not configs:
        return
    for pname, settings in wf.providers.items():
        model = configs.get(pname)
        if model is None:
            continue
        try:
            model.model_validate(settings)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("providers", pname, *err["loc"])
                if err["type"] == "extra_forbidden":
                    key = str(err["loc"][-1])
                    names = _field_names(model)
                    p.add(
                        loc,
                        f"unknown setting '{key}'{suggest(key, names)}",
                        fix=f"settings of provider {pname}: {', '.join(names)}",
                    )
                else:
                    p.add(loc, err["msg"])


def _check_bindings(wf: Workflow, models: Mapping[str, type[BaseModel]] | None, p: _Problems) -> None:
    """Each agent's section named after a provider, against that provider's `Binding` model.

    A provider without a model takes any mapping; a section that is not a mapping, or names no
    installed provider, is reported by `_check_providers`.
    """
    if not models:
        return
    for aname, agent in wf.agents.items():
        for pname, section in agent.bindings.items():
            model = models.get(pname)
            if model is None or not isinstance(section, dict):
                continue
            try:
                model.model_validate(section)
            except ValidationError as exc:
                for err in exc.errors():
                    _binding_problem(("agents", aname, pname), model, pname, err, p)


def _binding_problem(
    where: Path_, model: type[BaseModel], pname: str, err: Mapping[str, Any], p: _Problems
) -> None:
    names = _field_names(model)
    keys = f"keys of a {pname} binding: {', '.join(names)}"
    loc = (*where, *err["loc"])
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        p.add(loc, f"unknown key '{key}' in the {pname} binding{suggest(key, names)}", fix=keys)
        return
    message = str(err["msg"]).removeprefix("Value error, ")
    field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
    if field is None or err["type"] == "missing":
        p.add(loc, message, fix=keys)
        return
    # the field's own description says what a good value looks like
    about = f"{err['loc'][0]}: {field.description}" if field.description else keys
    p.add(loc, f"{message} (got {shown(err.get('input'))})", fix=about)
