"""`podium ui`: serve the runs, approvals and spend of a run database as a local web page."""

from __future__ import annotations

from typing import Any


def add_commands(cli: Any) -> None:
    """Add `podium ui` to the `podium` click group."""
    import click

    from podium.plugins.commands import guard

    @cli.command("ui")
    @click.option(
        "--db",
        type=click.Path(dir_okay=False),
        help="Run database (default: $PODIUM_DB or ~/.podium/podium.db).",
    )
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option(
        "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
    )
    @click.option(
        "--token",
        envvar="PODIUM_UI_TOKEN",
        default=None,
        help="Ask every visitor for this token once (default: $PODIUM_UI_TOKEN); needed off 127.0.0.1.",
    )
    @guard
    def ui(db: str | None, host: str, port: int, token: str | None) -> None:
        """Serve a web page of runs, approvals and spend (127.0.0.1 only, unless given a token)."""
        from podium.ui.server import serve
        from podium.ui.settings import settings_for

        settings = settings_for(db=db, host=host, token=token)
        serve(settings, port=port, announce=lambda url: click.echo(f"podium ui: serving {url}", err=False))
