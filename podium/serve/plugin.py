"""The serve plugin: adds `podium serve`. Loading it imports nothing heavy; the server loads when run."""

from __future__ import annotations

from typing import Any

from podium.plugins import hookimpl


class ServePlugin:
    """`podium serve FLOW --a2a`."""

    @hookimpl
    def podium_register_commands(self, cli: Any) -> None:
        """Add `podium serve`."""
        from podium.serve.commands import add_commands

        add_commands(cli)
