"""`podium config show`: each agent's resolved binding under a profile, and where each value came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from podium.plugins.commands import echo_json, guard

if TYPE_CHECKING:
    from podium.config import ConfigFile, Configured

# the CLI's own: (file, profile, config, provider, sets) -> Configured, warnings already said
Configure = Callable[[str, str | None, str | None, str | None, tuple[str, ...]], "Configured"]


def register(cli: click.Group, configure: Configure) -> None:
    """Add the `config` group to `podium`; `configure` resolves a workflow as `podium run` does."""

    @cli.group("config")
    def config() -> None:
        """Profiles from podium.toml, and what they bind."""

    @config.command("show")
    @click.argument("file", type=click.Path(dir_okay=False), required=False)
    @click.option("--profile", default=None, metavar="NAME", help="The profile (also: PODIUM_PROFILE).")
    @click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
        help="The podium.toml to read (default: the nearest from the workflow's folder up).",
    )  # fmt: skip
    @click.option("--provider", default=None, help="Rebind every agent to this provider, as on run.")
    @click.option("--set", "sets", multiple=True, metavar="PROVIDER.KEY=VALUE", help="As on run.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @guard
    def show(
        file: str | None,
        profile: str | None,
        config_file: str | None,
        provider: str | None,
        sets: tuple[str, ...],
        as_json: bool,
    ) -> None:
        """Print each agent's resolved binding for workflow FILE and where each value came from
        (without FILE: the profiles of the podium.toml found from here)."""
        if file is None:
            _show_file(profile, config_file, as_json)
            return
        configured = _with_classes(configure(file, profile, config_file, provider, sets))
        if as_json:
            echo_json(configured.to_json())
            return
        _print(configured)


def _with_classes(configured: Configured) -> Configured:
    """Each model class an agent names (`model: fast`) as the model it is on the agent's provider,
    as a run resolves it (the workflow's own `providers.<name>.models` already did, where it maps it)."""
    import dataclasses

    from podium.resolve import model_classes

    classes = model_classes()
    agents = dict(configured.agents)
    for name, binding in agents.items():
        table = classes.for_provider(binding.provider.value)
        if binding.kind == "model" and binding.target in table:
            resolved = f"{table[binding.target]} (model class {binding.target})"
            agents[name] = dataclasses.replace(binding, target=resolved)
    return dataclasses.replace(configured, agents=agents)


def _show_file(profile: str | None, config_file: str | None, as_json: bool) -> None:
    """The profiles of a podium.toml, as written, with the line of each."""
    import os

    from podium.config import ENV_PROFILE, find_config, load_config
    from podium.config.file import looked_in
    from podium.core.errors import BadInput
    from podium.plugins.manager import load_plugins

    path = Path(config_file) if config_file else find_config(Path.cwd())
    if path is None:
        raise BadInput(
            f"no podium.toml found (looked in {looked_in(Path.cwd())})",
            fix="create one with [profiles.NAME] tables, or give it with --config FILE",
        )
    cfg = load_config(path, load_plugins().providers)
    wanted = profile or os.environ.get(ENV_PROFILE) or None
    if wanted is not None and wanted not in cfg.profiles:
        raise BadInput(
            f"profile '{wanted}' is not in {cfg.path}",
            fix=f"profiles in {path.name}: {', '.join(cfg.profiles) or '(none)'}",
        )
    names = [wanted] if wanted else list(cfg.profiles)
    if as_json:
        echo_json(
            {
                "config_file": str(cfg.path),
                "default_profile": cfg.default_profile,
                "profiles": {n: cfg.profiles[n].model_dump(mode="json", exclude_none=True) for n in names},
            }
        )
        return
    _print_file(cfg, names)


def _print_file(cfg: ConfigFile, names: list[str]) -> None:
    from podium.config.resolve import shown_value

    click.echo(f"{cfg.path}" + (f" (default profile: {cfg.default_profile})" if cfg.default_profile else ""))
    for name in names:
        prof = cfg.profiles[name]
        about = f" — {prof.description}" if prof.description else ""
        click.echo(f"\nprofile {name} ({cfg.where('profiles', name)}){about}")
        if prof.provider:
            click.echo(f"  provider: {prof.provider}")
        for pname, values in prof.providers.items():
            for key, value in values.items():
                where = cfg.where("profiles", name, "providers", pname, key)
                click.echo(f"  providers.{pname}.{key} = {shown_value(key, value)!r}  ({where})")
        for aname, agent in prof.agents.items():
            parts = [f"provider {agent.provider}"] if agent.provider else []
            parts += [f"model {agent.model}"] if agent.model else []
            parts += [f"{p} {section}" for p, section in agent.bindings.items()]
            click.echo(
                f"  agents.{aname}: {', '.join(parts)}  ({cfg.where('profiles', name, 'agents', aname)})"
            )


def _print(configured: Configured) -> None:
    from rich.console import Console
    from rich.table import Table

    from podium.config.resolve import shown_value

    wf = configured.workflow
    head = f"workflow '{wf.name}'"
    if configured.profile:
        head += f" under profile {configured.profile} ({configured.profile_from}; {configured.config_file})"
    else:
        head += " (no profile)"
    if configured.provider:
        head += f"; every agent on {configured.provider} ({configured.provider_from})"
    console = Console(highlight=False, soft_wrap=False)
    console.print(head, markup=False)
    table = Table(title="agents", title_justify="left", show_lines=False)
    for column in ("agent", "provider", "bound to", "from"):
        table.add_column(column, overflow="fold")
    for binding in configured.agents.values():
        target = f" {binding.target}" if binding.target else ""
        chain = " → ".join(binding.providers) if len(binding.providers) > 1 else binding.provider.value
        sources = [f"provider: {binding.provider.source}"]
        if binding.model is not None:
            sources.append(f"model {binding.model.value}: {binding.model.source}")
        sources += [f"{binding.provider.value}.{k}: {v.source}" for k, v in binding.binding.items()]
        table.add_row(binding.agent, chain, f"{binding.kind}{target}", "\n".join(sources))
    console.print(table)
    rows: list[Any] = [
        (pname, key, shown_value(key, value.value), value.source)
        for pname, values in configured.settings.items()
        for key, value in values.items()
    ]
    if rows:
        settings = Table(title="provider settings", title_justify="left")
        for column in ("provider", "setting", "value", "from"):
            settings.add_column(column, overflow="fold")
        for pname, key, value, source in rows:
            settings.add_row(pname, key, str(value), source)
        console.print(settings)
