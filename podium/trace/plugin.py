"""The trace plugin: `podium trace`, and the trace files a run wrote in `podium show`.

A built-in plugin, registered like any other; it never calls a provider and runs work the same
without it. Loading it imports nothing heavy: the exporters load when a command needs them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from podium.plugins import hookimpl

if TYPE_CHECKING:
    from podium.core.run import Run
    from podium.core.store import RunStore
    from podium.plugins.hookspecs import RunSummary

log = logging.getLogger("podium.trace")


class TracePlugin:
    """The trace plugin's hooks."""

    @hookimpl
    def podium_run_summary(self, run: Run, store: RunStore) -> RunSummary | None:
        """`trace`: the files this run's trace was written to (`podium run --trace`, `podium trace -o`)."""
        from podium.plugins.hookspecs import RunSummary
        from podium.trace.export import trace_files

        files = trace_files(store, run.run_id)
        if not files:
            return None

        def view() -> Any:
            from rich.text import Text

            return Text("\n".join(f"trace: {f['path']}" for f in files), style="dim")

        return RunSummary("trace", files, view)

    @hookimpl
    def podium_register_commands(self, cli: Any) -> None:
        """Add `podium trace`."""
        from podium.trace.commands import add_commands

        add_commands(cli)
