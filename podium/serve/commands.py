"""`podium serve FLOW --a2a [--port 8000] [--host 127.0.0.1] [--token …]`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from podium.core.errors import BadInput, ExtraMissing
from podium.plugins.commands import guard

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def add_commands(cli: Any) -> None:
    """Add `podium serve` to `cli`."""

    @cli.command()
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--a2a", "a2a", is_flag=True, help="Serve it as an Agent2Agent (A2A) agent.")
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
    @click.option("--host", default="127.0.0.1", show_default=True, help="Any other host needs --token.")
    @click.option(
        "--token", default=None, help="The bearer token callers must send (else $PODIUM_A2A_TOKEN)."
    )
    @click.option(
        "--db", type=click.Path(dir_okay=False), default=None,
        help="Run database (default: $PODIUM_DB or ~/.podium/podium.db).",
    )  # fmt: skip
    @guard
    def serve(file: str, a2a: bool, port: int, host: str, token: str | None, db: str | None) -> None:
        """Serve a workflow to other programs; each message a durable run of it."""
        if not a2a:
            raise BadInput("say how to serve it", fix=f"podium serve {file} --a2a")
        token = token or os.environ.get("PODIUM_A2A_TOKEN") or None
        if host not in LOCAL_HOSTS and not token:
            raise BadInput(
                f"--host {host} would let other machines run this workflow with no credentials",
                fix="give a token (--token, or PODIUM_A2A_TOKEN) that callers send as a bearer token",
            )
        try:
            import uvicorn

            from podium.serve.a2a import app_of, servable
        except ImportError:
            raise ExtraMissing(
                "podium serve --a2a needs the a2a-sdk", fix="pip install 'podium[a2a]'"
            ) from None
        from podium import api

        path = Path(file)
        served = servable(api.load(path), path.resolve(), db)
        shown = "[::1]" if host == "::1" else host
        base = f"http://{shown}:{port}"
        app = app_of(served, base, token)
        card = f"{base}/.well-known/agent-card.json"
        click.echo(f"serving {served.workflow.name} as an A2A agent at {base} (card: {card})")
        click.echo("Ctrl-C stops it", err=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")

    _ = serve
