"""The ui plugin: adds `podium ui`.

A built-in plugin, registered like any other; core never imports it. Loading it imports nothing
heavy: Starlette, uvicorn and the pages load only when `podium ui` runs.
"""

from __future__ import annotations

from typing import Any

from podium.plugins import hookimpl


class UIPlugin:
    """The ui plugin's hooks."""

    @hookimpl
    def podium_register_commands(self, cli: Any) -> None:
        """Add `podium ui`."""
        from podium.ui.commands import add_commands

        add_commands(cli)
