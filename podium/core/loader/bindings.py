"""Checks of what names a provider: provider names, their settings, and agents' bindings."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pydantic import BaseModel, ValidationError

from podium.core.loader.positions import Path_
from podium.core.loader.problems import _field_names, _Problems, suggest
from podium.core.spec import Agent, Workflow

# Providers podium ships as extras; named in errors even when not installed.
CLOUD_EXTRAS = ("bedrock", "vertex", "azure")


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
