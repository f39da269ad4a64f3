"""The bedrock plugin's commands: `podium deploy FILE --provider NAME` and `podium emulate bedrock`.

`deploy` is provider-neutral: it calls ``deploy(workflow)`` on the named provider, so any provider
that implements it can share the command (the first plugin to register it does; the others reuse
it). `emulate` is a group each cloud adds its own subcommand to.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading

import click

from podium.plugins.commands import guard, parse_pairs


@click.command("deploy")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--provider", "provider_name", required=True, help="The cloud to deploy the agents to.")
@click.option(
    "--set", "pairs", multiple=True, metavar="KEY=VALUE",
    help="Override a providers.<name> setting, e.g. --set region=eu-west-1.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@guard
def deploy(file: str, provider_name: str, pairs: tuple[str, ...], as_json: bool) -> None:
    """Create or update a workflow's managed agents in a cloud; record their ids next to the file."""
    from pydantic import ValidationError

    from podium import api
    from podium.core.calls import ProviderEnv
    from podium.core.errors import BadInput
    from podium.plugins.manager import ProviderRegistry, load_plugins

    pm = load_plugins()
    workflow = api.load(file, plugins=pm)
    cls = ProviderRegistry(pm).get(provider_name)
    if not callable(getattr(cls, "deploy", None)):
        raise BadInput(
            f"provider '{provider_name}' has no managed agents to deploy",
            fix="deploy to a cloud provider (bedrock, vertex, azure)",
        )
    settings = {
        **workflow.providers.get(provider_name, {}),
        **parse_pairs(pairs, "--set", "region=eu-west-1"),
    }
    try:
        config = cls.Config.model_validate(settings)
    except ValidationError as exc:
        raise BadInput(
            f"providers.{provider_name}: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    provider = cls(
        config, ProviderEnv(workflow=workflow.name, base_dir=workflow.base_dir, mock=workflow.mock)
    )
    rows = provider.deploy(workflow, echo=None if as_json else functools.partial(click.echo, err=True))  # type: ignore[attr-defined]
    if as_json:
        click.echo(
            json.dumps({"workflow": workflow.name, "provider": provider_name, "agents": rows}, indent=2)
        )
    else:
        click.echo(
            f"deployed {len(rows)} agent{'s' if len(rows) != 1 else ''} of '{workflow.name}'"
            f" to {provider_name}"
        )


@click.group("emulate")
def emulate() -> None:
    """Run a cloud's local emulator standalone, for other tools and SDKs (Ctrl-C stops it)."""


@click.command("bedrock")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--region", default="us-east-1", show_default=True)
@click.option(
    "--workflow", "workflow_file", type=click.Path(dir_okay=False),
    help="Answer from this workflow's mock: replies (default: echo the prompt).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the settings as one JSON line.")
@guard
def emulate_bedrock(port: int, region: str, workflow_file: str | None, as_json: bool) -> None:
    """Bedrock (agents runtime, runtime and the agents control plane) on 127.0.0.1."""
    from podium.providers.bedrock.emulator import emulate as run_emulator

    mock = None
    if workflow_file:
        from podium import api

        mock = api.load(workflow_file).mock
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with run_emulator(mock, region=region, port=port) as emulator:
        if as_json:
            info = {
                "provider": "bedrock",
                "endpoint_url": emulator.endpoint_url,
                "settings": emulator.settings(),
                "environment": emulator.environment(),
            }
            click.echo(json.dumps(info), color=False)
        else:
            click.echo(f"Bedrock emulator on {emulator.endpoint_url} (region {region}); Ctrl-C stops it")
            click.echo("point an AWS SDK at it with:")
            for name, value in emulator.environment().items():
                click.echo(f"  export {name}={value}")
            click.echo(f"or in a workflow: providers: {{bedrock: {{endpoint_url: {emulator.endpoint_url}}}}}")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def add_commands(cli: click.Group) -> None:
    """Add `deploy` (unless a plugin already has) and `emulate bedrock` to the podium CLI."""
    if "deploy" not in cli.commands:
        cli.add_command(deploy)
    group = cli.commands.get("emulate")
    if not isinstance(group, click.Group):
        group = emulate
        cli.add_command(group)
    group.add_command(emulate_bedrock)
