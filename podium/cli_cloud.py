"""The cloud commands, built from the provider registry: `podium deploy` and `podium emulate NAME`.

No provider writes a click command: `deploy` works for every provider with ``can_deploy``, and
`emulate` has one subcommand per installed provider with an emulator, its flags made from the
provider's `emulator_options` model (Bedrock's ``--region``). The registry is read only when
`emulate`'s subcommands are listed or run, so `podium --help` imports no provider.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from podium.plugins.commands import guard, parse_pairs

if TYPE_CHECKING:
    from podium.core.calls import EmulatorOptions, Provider
    from podium.plugins.manager import Plugins as LoadedPlugins

Plugins = Callable[[], "LoadedPlugins"]  # the CLI's plugins, loaded on first use


def register(cli: click.Group, plugins: Plugins) -> None:
    """Add `deploy` and `emulate` to the `podium` group; `plugins()` gives the plugins when needed."""
    cli.add_command(_deploy_command(plugins))
    cli.add_command(EmulateGroup(plugins))


def _deploy_command(plugins: Plugins) -> click.Command:
    @click.command("deploy")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option(
        "--provider", "provider_name", default=None,
        help="The cloud to deploy the agents to (default: the profile's or the workflow's provider).",
    )  # fmt: skip
    @click.option(
        "--set", "pairs", multiple=True, metavar="KEY=VALUE",
        help="Override a providers.<name> setting, e.g. --set region=eu-west-1.",
    )  # fmt: skip
    @click.option(
        "--profile", default=None, metavar="NAME", help="A podium.toml profile (also: PODIUM_PROFILE)."
    )
    @click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
        help="The podium.toml to read (default: the nearest from the workflow's folder up).",
    )  # fmt: skip
    @click.option(
        "--emulate", is_flag=True,
        help="Deploy to a fresh local emulator of the cloud, to see what would be created (no lock file).",
    )  # fmt: skip
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @guard
    def deploy(
        file: str,
        provider_name: str | None,
        pairs: tuple[str, ...],
        profile: str | None,
        config_file: str | None,
        emulate: bool,
        as_json: bool,
    ) -> None:
        """Create or update a workflow's managed agents in a cloud; record their ids next to the file."""
        from podium import api
        from podium.core.errors import BadInput

        pm = plugins()
        configured = api.configure(
            api.load(file, plugins=pm), profile=profile, config=config_file, plugins=pm
        )
        for warning in configured.warnings:
            click.echo(f"warning: {warning}", err=True)
        workflow = configured.workflow
        provider_name = provider_name or configured.provider or workflow.defaults.provider
        if not pm.providers.get(provider_name).can_deploy:
            raise BadInput(
                f"provider '{provider_name}' has no managed agents to deploy",
                fix="name a cloud: podium deploy FILE --provider bedrock (or azure, vertex), or a profile"
                " whose provider is one",
            )
        settings = parse_pairs(pairs, "--set", "region=eu-west-1")
        echo = None if as_json else partial(click.echo, err=True)
        done = api.deploy(
            workflow, provider=provider_name, settings=settings, plugins=pm, echo=echo, emulate=emulate
        )
        if as_json:
            rows = [d.row() for d in done]
            click.echo(
                json.dumps({"workflow": workflow.name, "provider": provider_name, "agents": rows}, indent=2)
            )
        else:
            where = (
                f"a local {provider_name} emulator (nothing reached the cloud; podium-lock.json is unchanged)"
                if emulate
                else provider_name
            )
            click.echo(
                f"deployed {len(done)} agent{'s' if len(done) != 1 else ''} of '{workflow.name}' to {where}"
            )

    return deploy


class EmulateGroup(click.Group):
    """`podium emulate NAME`: one subcommand per installed provider that has an emulator."""

    def __init__(self, plugins: Plugins) -> None:
        super().__init__(
            "emulate",
            help="Run a cloud's local emulator standalone, for other tools and SDKs (Ctrl-C stops it).",
        )
        self.plugins = plugins

    def _emulated(self) -> dict[str, type[Provider]]:
        registry = self.plugins().providers
        classes = {name: registry.get(name) for name in registry.names()}
        return {name: cls for name, cls in classes.items() if cls.emulator_options is not None}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._emulated())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cls = self._emulated().get(cmd_name)
        return None if cls is None else _emulate_command(cls)


def _option(name: str, field: Any) -> click.Option:
    """A click option for one field of a provider's emulator options."""
    kind = field.annotation if field.annotation in (str, int, float, bool) else str
    flag = f"--{name.replace('_', '-')}"
    if kind is bool:
        return click.Option([flag, name], is_flag=True, default=bool(field.default), help=field.description)
    if field.is_required():
        return click.Option([flag, name], type=kind, required=True, help=field.description)
    return click.Option(
        [flag, name], type=kind, default=field.default, show_default=True, help=field.description
    )


def _emulate_command(cls: type[Provider]) -> click.Command:
    model: type[EmulatorOptions] = cls.emulator_options  # type: ignore[assignment]
    params: list[click.Parameter] = [
        click.Option(
            ["--port"],
            type=click.IntRange(0, 65535),
            default=0,
            show_default=True,
            help="Port on 127.0.0.1 (0: any free port).",
        ),
        *(_option(name, field) for name, field in model.model_fields.items()),
        click.Option(
            ["--workflow", "workflow_file"],
            type=click.Path(dir_okay=False),
            help="Answer from this workflow's mock: replies (default: echo the prompt).",
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the settings as one JSON line."),
    ]

    @guard
    def run(port: int, workflow_file: str | None, as_json: bool, **values: Any) -> None:
        _serve(cls, model.model_validate(values), port=port, workflow_file=workflow_file, as_json=as_json)

    summary = (cls.description or cls.name).split(":")[0]
    return click.Command(
        cls.name,
        callback=run,
        params=params,
        help=f"{cls.description or cls.name}, emulated on 127.0.0.1.",
        short_help=f"{summary}, emulated on 127.0.0.1.",
    )


@contextmanager
def _listening(cls: type[Provider], env: Any, port: int, options: EmulatorOptions) -> Iterator[Any]:
    """The started emulator; a port it cannot listen on is bad input, said plainly (exit 2)."""
    from podium.core.errors import BadInput

    try:
        emulator = cls.emulator(env, port=port, options=options).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = f"port {port} on 127.0.0.1 is in use by another program"
        elif exc.errno == errno.EACCES:
            why = f"this user may not listen on port {port} (ports below 1024 need privileges)"
        else:
            why = f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})"
        raise BadInput(
            f"the {cls.name} emulator cannot start: {why}",
            fix="choose another --port, or --port 0 for any free port",
        ) from None
    try:
        yield emulator
    finally:
        emulator.stop()


def _client_hint(emulator: Any) -> str | None:
    # a kit emulator's (`CloudEmulator.client_hint`); a third party's Emulator need not have one
    hint = getattr(emulator, "client_hint", None)
    return hint() if callable(hint) else None


def _serve(
    cls: type[Provider], options: EmulatorOptions, *, port: int, workflow_file: str | None, as_json: bool
) -> None:
    from podium.core.calls import ProviderEnv

    env = ProviderEnv(workflow="emulator", base_dir=Path.cwd())
    if workflow_file:
        from podium import api

        loaded = api.load(workflow_file)
        env = ProviderEnv(workflow=loaded.name, base_dir=loaded.base_dir, mock=loaded.mock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        emulator = stack.enter_context(_listening(cls, env, port, options))
        if as_json:
            info = {
                "provider": cls.name,
                "endpoint_url": emulator.endpoint_url,
                "settings": emulator.settings(),
                "environment": emulator.environment(),
                "client_hint": _client_hint(emulator),
            }
            click.echo(json.dumps(info), color=False)
        else:
            about = ", ".join(f"{k} {v}" for k, v in options.model_dump().items())
            click.echo(
                f"{cls.name.capitalize()} emulator on {emulator.endpoint_url}"
                + (f" ({about})" if about else "")
                + "; Ctrl-C stops it"
            )
            environment = emulator.environment()
            if environment:
                click.echo("point an SDK at it with:")
                for name, value in environment.items():
                    click.echo(f"  export {name}={value}")
                if (hint := _client_hint(emulator)) is not None:
                    click.echo(f"then make the client with: {hint}")
            pointing = {k: v for k, v in emulator.settings().items() if v is not None}
            click.echo(f"or in a workflow: providers: {{{cls.name}: {json.dumps(pointing)}}}")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
