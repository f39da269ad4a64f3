"""A workflow under a profile, each value from the strongest place that gives it, and where it came from.

Precedence, strongest first:

1. **CLI flags**: ``--provider`` (rebinds every agent but python functions), ``--set P.KEY=VALUE``;
2. **environment**: ``PODIUM_PROVIDER``, ``PODIUM_<PROVIDER>_<KEY>`` (``PODIUM_BEDROCK_REGION``);
3. **the workflow file**: its ``providers:``, ``defaults:`` and each agent's own keys;
4. **the profile's defaults**: the ``[profiles.NAME]`` table of ``podium.toml``.

The profile itself is chosen by ``--profile``, else ``PODIUM_PROFILE``, else the file's
``default_profile``. A profile lays its provider settings under the workflow's ``providers:`` and
its bindings under each agent, key by key: whatever the workflow says wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from podium.config.file import find_config, looked_in, read_config
from podium.config.model import ConfigFile, Profile, ProfileAgent
from podium.core.calls import Provider
from podium.core.errors import BadInput, InputError, WorkflowError
from podium.core.loader import suggest
from podium.core.loader.fixes import value_fix
from podium.core.spec import Agent, Workflow

ENV_PROFILE = "PODIUM_PROFILE"
ENV_PROVIDER = "PODIUM_PROVIDER"
# keys of a binding that name a managed agent, by provider (the rest name a model)
MANAGED_KEYS = ("agent_id", "agent", "engine", "runtime_arn")
# settings whose values are never shown (`podium config show` prints the rest)
SECRET_WORDS = ("secret", "key", "token", "password", "credential")


class ProviderLookup(Protocol):
    """Installed provider classes by name (`podium.plugins.manager.ProviderRegistry` is one)."""

    def names(self) -> list[str]: ...
    def get(self, name: str) -> type[Provider]: ...


@dataclass(frozen=True, slots=True)
class Sourced:
    """A value and where it came from, for people: `--set`, `PODIUM_BEDROCK_REGION`, `flow.yaml:12`."""

    value: Any
    source: str


@dataclass(frozen=True, slots=True)
class AgentBinding:
    """What one agent is bound to under the resolved configuration, and why."""

    agent: str
    provider: Sourced
    providers: list[str]  # the provider chain of the agent's first step, fallbacks included
    kind: str  # function, agent (managed), model, mock
    target: str | None  # the function, managed agent's id or model id
    model: Sourced | None
    binding: dict[str, Sourced]  # the agent's section for its provider

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "provider": self.provider.value,
            "provider_from": self.provider.source,
            "providers": self.providers,
            "kind": self.kind,
            "target": self.target,
            "model": self.model.value if self.model else None,
            "model_from": self.model.source if self.model else None,
            "binding": {k: {"value": v.value, "from": v.source} for k, v in self.binding.items()},
        }


@dataclass(frozen=True)
class Configured:
    """A workflow with its profile, environment and flags applied, and the record of where each value
    came from (`podium config show` prints it)."""

    workflow: Workflow
    profile: str | None = None
    profile_from: str | None = None
    config_file: Path | None = None
    provider: str | None = None  # rebinds every agent that is not a function (--provider, PODIUM_PROVIDER)
    provider_from: str | None = None
    settings: dict[str, dict[str, Sourced]] = field(default_factory=dict)
    agents: dict[str, AgentBinding] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As ``podium config show --json`` prints it; secret settings are masked."""
        return {
            "workflow": self.workflow.name,
            "profile": self.profile,
            "profile_from": self.profile_from,
            "config_file": str(self.config_file) if self.config_file else None,
            "provider": self.provider,
            "provider_from": self.provider_from,
            "providers": {
                name: {
                    key: {"value": shown_value(key, v.value), "from": v.source} for key, v in values.items()
                }
                for name, values in self.settings.items()
            },
            "agents": {name: binding.to_json() for name, binding in self.agents.items()},
            "warnings": self.warnings,
        }

    def with_sources(self, error: WorkflowError) -> WorkflowError:
        """`error` with each agent's model that a profile set said to come from there.

        The workflow's problems sit at the agent in the workflow file; a `model` its file does not
        have (the profile's) would send the user looking there for a word that is not in it.
        """
        problems = []
        for problem in error.problems:
            parts = problem.field.split(".")
            binding = (
                self.agents.get(parts[1]) if len(parts) == 3 and parts[::2] == ["agents", "model"] else None
            )
            source = binding.model.source if binding is not None and binding.model is not None else ""
            if " profile " in source:
                problem = replace(problem, message=f"{problem.message} (the model is set at {source})")
            problems.append(problem)
        return WorkflowError(problems)


def shown_value(key: str, value: Any) -> Any:
    """A setting's value as it may be printed: secrets masked."""
    if value is not None and any(word in key.lower() for word in SECRET_WORDS) and not key.endswith("_env"):
        return "****"
    return value


def provider_models(registry: ProviderLookup) -> dict[str, Mapping[str, type[BaseModel]]]:
    """The installed providers' settings and binding models, for checking a podium.toml."""
    configs, bindings = _Models(registry, "Config"), _Models(registry, "Binding")
    return {"provider_configs": configs, "provider_bindings": bindings}


class _Models(Mapping[str, type[BaseModel]]):
    """One model of each installed provider (its `Config` or `Binding`), by provider name.

    A provider's class is imported when its entry is read (a registry imports a provider registered
    by reference on first use): the checks read the providers a file names, so loading a workflow
    of python functions imports no cloud's provider. Iterating, as a schema does, imports them all.
    """

    def __init__(self, registry: ProviderLookup, attribute: str) -> None:
        self._registry = registry
        self._attribute = attribute

    def __getitem__(self, name: str) -> type[BaseModel]:
        model = getattr(self._registry.get(name), self._attribute, None) if name in self._names() else None
        if model is None:
            raise KeyError(name)
        return model  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._names() if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:  # without importing every provider (checks ask this first)
        return bool(self._names())

    def _names(self) -> list[str]:
        return self._registry.names()


def load_config(path: str | Path, registry: ProviderLookup) -> ConfigFile:
    """Read and check a podium.toml against the installed providers."""
    return read_config(path, providers=registry.names(), **provider_models(registry))  # type: ignore[arg-type]


def configure(
    workflow: Workflow,
    *,
    registry: ProviderLookup,
    profile: str | None = None,
    config: str | Path | None = None,
    provider: str | None = None,
    provider_settings: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    use_default: bool = True,
) -> Configured:
    """`workflow` with a profile, the environment and CLI flags applied (see the module's precedence).

    `config` is a podium.toml to read instead of looking for one; `provider` and `provider_settings`
    are the CLI's ``--provider`` and ``--set``; `environ` the environment (none when not given);
    `use_default` lets the file's ``default_profile`` apply when no profile is asked for. Bad input
    (an unknown profile, a podium.toml problem, a bad setting) raises, naming the fix; a profile
    binding an agent the workflow does not have is a warning in the result.
    """
    env = dict(environ or {})
    cfg = _config(workflow, registry, config)
    name, chosen_by = _chosen(profile, env, cfg, use_default)
    prof = _profile(name, cfg, workflow, chosen_by)
    labels = _WorkflowLabels(workflow)
    warnings = [*_unknown_agents(workflow, prof, name, cfg), *_overruled(workflow, prof, name, cfg, labels)]

    settings = _settings(workflow, prof, name, cfg, labels, env, provider_settings or {}, registry)
    override, override_from = _override(provider, env, registry)
    defaults, agents = _layered(workflow, prof)
    merged = workflow.model_copy(
        update={
            "providers": {p: {k: v.value for k, v in values.items()} for p, values in settings.items()},
            "defaults": defaults,
            "agents": agents,
        }
    )
    bound = {
        aname: _binding(aname, merged, workflow, prof, name, cfg, labels, override, override_from, settings)
        for aname in merged.agents
    }
    return Configured(
        workflow=merged,
        profile=name,
        profile_from=chosen_by,
        config_file=cfg.path if cfg else None,
        provider=override,
        provider_from=override_from,
        settings=settings,
        agents=bound,
        warnings=warnings,
    )


# --- choosing the file and the profile ----------------------------------------------------------


def _config(workflow: Workflow, registry: ProviderLookup, config: str | Path | None) -> ConfigFile | None:
    if config is not None:
        return load_config(config, registry)
    found = find_config(workflow.base_dir)
    return load_config(found, registry) if found is not None else None


def _chosen(
    profile: str | None, env: Mapping[str, str], cfg: ConfigFile | None, use_default: bool
) -> tuple[str | None, str | None]:
    if profile:
        return profile, "--profile"
    if env.get(ENV_PROFILE):
        return env[ENV_PROFILE], ENV_PROFILE
    if use_default and cfg is not None and cfg.default_profile:
        return cfg.default_profile, f"{cfg.where('default_profile')} default_profile"
    return None, None


def _profile(
    name: str | None, cfg: ConfigFile | None, workflow: Workflow, chosen_by: str | None
) -> Profile | None:
    if name is None:
        return None
    if cfg is None:
        raise BadInput(
            f"profile '{name}' ({chosen_by}): no podium.toml found"
            f" (looked in {looked_in(workflow.base_dir)})",
            fix=f"create a podium.toml with a [profiles.{name}] table next to the workflow, or give"
            " one with --config FILE",
        )
    if name not in cfg.profiles:
        known = ", ".join(cfg.profiles) or "(none)"
        raise BadInput(
            f"profile '{name}' ({chosen_by}) is not in {cfg.path}{suggest(name, cfg.profiles)}",
            fix=f"profiles in {cfg.path.name if cfg.path else 'podium.toml'}: {known};"
            f" or add a [profiles.{name}] table",
        )
    return cfg.profiles[name]


def _unknown_agents(
    workflow: Workflow, prof: Profile | None, name: str | None, cfg: ConfigFile | None
) -> list[str]:
    if prof is None or cfg is None:
        return []
    return [
        f"{cfg.where('profiles', str(name), 'agents', aname)}: profile '{name}' binds agent '{aname}',"
        f" which workflow '{workflow.name}' does not have{suggest(aname, workflow.agents)}; it is ignored"
        for aname in prof.agents
        if aname not in workflow.agents
    ]


def _overruled(
    workflow: Workflow,
    prof: Profile | None,
    name: str | None,
    cfg: ConfigFile | None,
    labels: _WorkflowLabels,
) -> list[str]:
    """The profile's provider, when the workflow's own `defaults.provider` beats it (a surprise worth
    saying: the profile then moves only the agents it names with a provider of their own)."""
    if (
        prof is None
        or cfg is None
        or not prof.provider
        or "provider" not in workflow.defaults.model_fields_set
    ):
        return []
    if workflow.defaults.provider == prof.provider:
        return []
    return [
        f"{cfg.where('profiles', str(name), 'provider')}: profile '{name}' sets provider {prof.provider}, but"
        f" {labels('defaults', 'provider')} defaults.provider {workflow.defaults.provider} wins (the workflow"
        " file beats a profile); remove it from the workflow to let profiles choose, or use --provider"
    ]


# --- provider settings --------------------------------------------------------------------------


class _WorkflowLabels:
    """`flow.yaml:12`: where a key stands in the workflow file (re-read once for its positions)."""

    def __init__(self, workflow: Workflow) -> None:
        self.name = workflow.path.name if workflow.path else "the workflow"
        self.positions: dict[tuple[Any, ...], tuple[int, int]] = {}
        if workflow.path is not None and workflow.path.is_file():
            from podium.core.loader.positions import _parse_yaml

            try:
                _, self.positions = _parse_yaml(workflow.path.read_text(encoding="utf-8"), str(workflow.path))
            except Exception:  # the file changed under us: name it without a line
                self.positions = {}

    def __call__(self, *path: str) -> str:
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return f"{self.name}:{self.positions[probe][0]}"
            probe = probe[:-1]
        return self.name


def _env_settings(env: Mapping[str, str], names: Collection[str]) -> dict[str, dict[str, Sourced]]:
    out: dict[str, dict[str, Sourced]] = {}
    for pname in names:
        prefix = f"PODIUM_{pname.upper()}_"
        for var, value in sorted(env.items()):
            if var.startswith(prefix) and len(var) > len(prefix):
                out.setdefault(pname, {})[var[len(prefix) :].lower()] = Sourced(value, var)
    return out


def _settings(
    workflow: Workflow,
    prof: Profile | None,
    name: str | None,
    cfg: ConfigFile | None,
    labels: _WorkflowLabels,
    env: Mapping[str, str],
    sets: Mapping[str, Mapping[str, Any]],
    registry: ProviderLookup,
) -> dict[str, dict[str, Sourced]]:
    layers: list[dict[str, dict[str, Sourced]]] = []
    if prof is not None and cfg is not None:
        layers.append(
            {
                p: {k: Sourced(v, f"{cfg.where('profiles', str(name), 'providers', p, k)} profile {name}")
                    for k, v in values.items()}
                for p, values in prof.providers.items()
            }
        )  # fmt: skip
    layers.append(
        {
            p: {k: Sourced(v, labels("providers", p, k)) for k, v in values.items()}
            for p, values in workflow.providers.items()
        }
    )
    layers.append(_env_settings(env, registry.names()))
    layers.append({p: {k: Sourced(v, "--set") for k, v in values.items()} for p, values in sets.items()})
    merged: dict[str, dict[str, Sourced]] = {}
    for layer in layers:
        for pname, values in layer.items():
            merged.setdefault(pname, {}).update(values)
    for pname, values in merged.items():
        _check_settings(pname, values, registry)
    return merged


def _check_settings(pname: str, values: Mapping[str, Sourced], registry: ProviderLookup) -> None:
    cls = registry.get(pname)  # an unknown provider is bad input, with the installed ones listed
    try:
        cls.Config.model_validate({k: v.value for k, v in values.items()})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        source = values[key].source if key in values else "settings"
        names = list(cls.Config.model_fields)
        if err["type"] == "extra_forbidden":
            message = f"unknown setting '{key}' of provider {pname}{suggest(key, names)}"
        else:
            message = (
                f"{pname}.{key}: {err['msg']} (got {values[key].value!r})" if key in values else err["msg"]
            )
        listed = f"settings of provider {pname}: {', '.join(names)}"
        # a known setting with a wrong value: say what to write, not which settings there are
        fix = listed if err["type"] == "extra_forbidden" else (value_fix(err) or listed)
        raise InputError(f"{source}: {message}", fix=fix) from None


def _override(
    provider: str | None, env: Mapping[str, str], registry: ProviderLookup
) -> tuple[str | None, str | None]:
    if provider:
        registry.get(provider)
        return provider, "--provider"
    if env.get(ENV_PROVIDER):
        registry.get(env[ENV_PROVIDER])
        return env[ENV_PROVIDER], ENV_PROVIDER
    return None, None


# --- agents -------------------------------------------------------------------------------------


def _layered(workflow: Workflow, prof: Profile | None) -> tuple[Any, dict[str, Agent]]:
    """The workflow's defaults and agents with the profile laid under them, key by key."""
    if prof is None:
        return workflow.defaults, dict(workflow.agents)
    given = workflow.defaults.model_fields_set
    defaults = workflow.defaults
    update: dict[str, Any] = {}
    if prof.provider and "provider" not in given:
        update["provider"] = prof.provider
    if prof.fallback is not None and "fallback" not in given:
        update["fallback"] = list(prof.fallback)
    if update:
        defaults = defaults.model_copy(update=update)
    agents = {}
    for aname, agent in workflow.agents.items():
        layer = prof.agents.get(aname)
        agents[aname] = agent if layer is None else _agent_under(agent, layer, workflow)
    return defaults, agents


def _agent_under(agent: Agent, layer: ProfileAgent, workflow: Workflow) -> Agent:
    data = agent.model_dump(exclude_unset=True)
    for key, value in agent.bindings.items():
        data[key] = value
    # the workflow's own defaults: beat the profile's per-agent choice of provider and fallback
    given = workflow.defaults.model_fields_set
    if layer.provider and agent.provider is None and "provider" not in given:
        data["provider"] = layer.provider
    if layer.model and agent.model is None:
        data["model"] = layer.model
    if layer.fallback is not None and agent.fallback is None and "fallback" not in given:
        data["fallback"] = list(layer.fallback)
    for pname, section in layer.bindings.items():
        own = data.get(pname)
        data[pname] = {**section, **(own if isinstance(own, dict) else {})}
    return Agent.model_validate(data)


def _binding(
    aname: str,
    merged: Workflow,
    original: Workflow,
    prof: Profile | None,
    name: str | None,
    cfg: ConfigFile | None,
    labels: _WorkflowLabels,
    override: str | None,
    override_from: str | None,
    settings: Mapping[str, Mapping[str, Sourced]],
) -> AgentBinding:
    agent = merged.agents[aname]
    own = original.agents[aname]
    layer = prof.agents.get(aname) if prof is not None else None

    def profile_at(*path: str) -> str:
        where = cfg.where("profiles", str(name), *path) if cfg is not None else "podium.toml"
        return f"{where} profile {name}"

    step = next((s for s in merged.steps.values() if s.agent == aname), None)
    chain = merged.chain(step, override) if step is not None else []
    if agent.function is not None:
        return AgentBinding(
            aname, Sourced("local", labels("agents", aname, "function")), chain or ["local"], "function",
            agent.function, None, {},
        )  # fmt: skip
    given = original.defaults.model_fields_set
    if override is not None:
        provider = Sourced(override, str(override_from))
    elif own.provider is not None:
        provider = Sourced(own.provider, labels("agents", aname, "provider"))
    elif "provider" in given:
        provider = Sourced(original.defaults.provider, labels("defaults", "provider"))
    elif layer is not None and layer.provider:
        provider = Sourced(layer.provider, profile_at("agents", aname, "provider"))
    elif prof is not None and prof.provider:
        provider = Sourced(prof.provider, profile_at("provider"))
    else:
        provider = Sourced(merged.defaults.provider, "default")
    if own.model is not None:
        model: Sourced | None = Sourced(own.model, labels("agents", aname, "model"))
    elif layer is not None and layer.model:
        model = Sourced(layer.model, profile_at("agents", aname, "model"))
    else:
        model = None
    pname = str(provider.value)
    section: dict[str, Sourced] = {}
    if layer is not None and isinstance(layer.bindings.get(pname), dict):
        for key, value in layer.bindings[pname].items():
            section[key] = Sourced(value, profile_at("agents", aname, pname, key))
    if isinstance(own.bindings.get(pname), dict):
        for key, value in own.bindings[pname].items():
            section[key] = Sourced(value, labels("agents", aname, pname, key))
    kind, target = _kind(pname, section, model, settings.get(pname, {}), merged, aname)
    return AgentBinding(aname, provider, chain, kind, target, model, section)


def _kind(
    pname: str,
    section: Mapping[str, Sourced],
    model: Sourced | None,
    settings: Mapping[str, Sourced],
    workflow: Workflow,
    aname: str,
) -> tuple[str, str | None]:
    """What a call will run on, as far as the configuration says (a lock file may add a deployed agent)."""
    managed = [section[k].value for k in MANAGED_KEYS if k in section]
    if managed:
        alias = section.get("alias_id")
        return "agent", f"{managed[0]}/{alias.value}" if alias else str(managed[0])
    chosen = section["model"].value if "model" in section else (model.value if model else None)
    if pname == "local":
        steps = [sid for sid, s in workflow.steps.items() if s.agent == aname]
        if any(key in workflow.mock for key in (aname, *steps)) or "base_url" not in settings:
            return "mock", None
    if chosen is None:
        return "model", None
    aliases = settings.get("models")
    table = aliases.value if aliases is not None and isinstance(aliases.value, dict) else {}
    return "model", str(table.get(chosen, chosen))
