"""Checks of a podium.toml beyond its shape: provider names, their settings, agents' bindings.

Each problem is located at the key it is about (see `podium.config.lines`) and says the fix, as
the workflow loader's do; a provider's settings and bindings are checked against the same models.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from podium.config.model import ConfigFile, Profile, ProfileAgent
from podium.core.loader.bindings import CLOUD_EXTRAS, _binding_problem
from podium.core.loader.fixes import value_fix
from podium.core.loader.problems import _field_names, _Problems, shown, suggest

Where = tuple[str, ...]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    if not loc:
        return ConfigFile
    if loc[0] == "profiles" and len(loc) == 2:
        return Profile
    if loc[0] == "profiles" and len(loc) == 4 and loc[2] == "agents":
        return ProfileAgent
    return None


def model_problems(exc: ValidationError, problems: _Problems) -> None:
    """pydantic's errors on a podium.toml in the user's words, each at its key."""
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            key = loc[-1]
            model = _model_at(loc[:-1])
            names = _field_names(model) if model else []
            where = ".".join(loc[:-1]) or "the top level"
            problems.add(
                loc,
                f"unknown key '{key}'{suggest(key, names)}",
                fix=f"keys allowed in {where}: {', '.join(names)}" if names else "remove it",
            )
        elif err["type"] in ("dict_type", "model_type"):
            problems.add(
                loc,
                f"must be a table (got {shown(err.get('input'))})",
                fix=f"write it as a [{'.'.join(loc)}] table of key = value lines",
            )
        else:
            problems.add(loc, f"{err['msg']} (got {shown(err.get('input'))})", fix=_toml_fix(err))


def check_config(
    config: ConfigFile,
    problems: _Problems,
    providers: Collection[str] | None,
    provider_configs: Mapping[str, type[BaseModel]] | None,
    provider_bindings: Mapping[str, type[BaseModel]] | None,
) -> None:
    """Add a problem for each name, setting or binding in `config` that cannot work."""
    names = list(config.profiles)
    if config.default_profile is not None and config.default_profile not in config.profiles:
        problems.add(
            ("default_profile",),
            f"names profile '{config.default_profile}', which is not in the file"
            f"{suggest(config.default_profile, names)}",
            fix=f"profiles in the file: {', '.join(names) or '(none)'};"
            f" or add [profiles.{config.default_profile}]",
        )
    for pname, profile in config.profiles.items():
        base: Where = ("profiles", pname)
        _check_names(base, profile, problems, providers)
        _check_settings(base, profile, problems, provider_configs)
        _check_agents(base, profile, problems, providers, provider_bindings)


def _check_names(base: Where, profile: Profile, problems: _Problems, known: Collection[str] | None) -> None:
    if known is None:
        return
    listing = ", ".join(sorted(known))

    def check(path: Where, name: str) -> None:
        if name in known:
            return
        if name in CLOUD_EXTRAS:
            problems.add(
                path,
                f"provider '{name}' is not installed (installed: {listing})",
                fix=f"pip install 'podium[{name}]'",
            )
        else:
            problems.add(
                path,
                f"unknown provider '{name}'{suggest(name, {*known, *CLOUD_EXTRAS})}",
                fix=f"installed providers: {listing}",
            )

    if profile.provider:
        check((*base, "provider"), profile.provider)
    for name in profile.fallback or ():
        check((*base, "fallback"), name)
    for name in profile.providers:
        check((*base, "providers", name), name)
    for aname, agent in profile.agents.items():
        if agent.provider:
            check((*base, "agents", aname, "provider"), agent.provider)
        for name in agent.fallback or ():
            check((*base, "agents", aname, "fallback"), name)


def _check_settings(
    base: Where, profile: Profile, problems: _Problems, configs: Mapping[str, type[BaseModel]] | None
) -> None:
    for pname, settings in profile.providers.items():
        model = (configs or {}).get(pname)
        if model is None:
            continue
        try:
            model.model_validate(settings)
        except ValidationError as exc:
            for err in exc.errors():
                loc = (*base, "providers", pname, *(str(p) for p in err["loc"]))
                if err["type"] == "extra_forbidden":
                    key = str(err["loc"][-1])
                    fields = _field_names(model)
                    problems.add(
                        loc,
                        f"unknown setting '{key}'{suggest(key, fields)}",
                        fix=f"settings of provider {pname}: {', '.join(fields)}",
                    )
                else:
                    got = shown(err.get("input"))
                    problems.add(loc, f"{err['msg']} (got {got})", fix=_toml_fix(err))


def _toml_fix(err: Any) -> str | None:
    """What to write instead of a refused value, in TOML's words (text is always quoted there)."""
    if str(err["type"]).startswith("string"):
        return 'write text in quotes: key = "value"'
    if err["type"] in ("dict_type", "model_type"):
        return "write a table: key = { name = value }, or a [table] of key = value lines"
    if err["type"] == "list_type":
        return 'write a list: key = ["a", "b"]'
    return value_fix(err)


def _check_agents(
    base: Where,
    profile: Profile,
    problems: _Problems,
    known: Collection[str] | None,
    models: Mapping[str, type[BaseModel]] | None,
) -> None:
    fields = _field_names(ProfileAgent)
    for aname, agent in profile.agents.items():
        where = (*base, "agents", aname)
        for key, section in agent.bindings.items():
            if known is not None and key not in known:
                listing = ", ".join(sorted(known))
                problems.add(
                    (*where, key),
                    f"unknown key '{key}'{suggest(key, [*fields, *known])}",
                    fix=f"keys of a profile's agent: {', '.join(fields)}, or a provider name ({listing})"
                    " holding that provider's binding",
                )
                continue
            if not isinstance(section, dict):
                problems.add(
                    (*where, key),
                    f"the {key} binding must be a table (got {type(section).__name__})",
                    fix=f'write it as {key} = {{model = "…"}}, or a [{".".join((*where, key))}] table',
                )
                continue
            model = (models or {}).get(key)
            if model is None:
                continue
            try:
                model.model_validate(section)
            except ValidationError as exc:
                for err in exc.errors():
                    _binding_problem((*where, key), model, key, err, problems)  # type: ignore[arg-type]
