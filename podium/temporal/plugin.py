"""The temporal plugin: adds `podium worker`. Loading it imports nothing heavy (no temporalio)."""

from __future__ import annotations

from typing import Any

from podium.plugins import hookimpl


class TemporalPlugin:
    """`podium worker`; `podium run --engine temporal` is an option of `run`."""

    @hookimpl
    def podium_register_commands(self, cli: Any) -> None:
        """Add `podium worker`."""
        from podium.temporal.commands import add_commands

        add_commands(cli)
