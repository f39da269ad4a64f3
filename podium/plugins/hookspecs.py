"""The pluggy hook specifications: the only contract between podium and its plugins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium.plugins import hookspec

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest, Provider
    from podium.core.events import Event
    from podium.core.run import Run
    from podium.core.store import RunStore
    from podium.plugins.manager import ProviderRef


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A plugin's piece of what `podium show` and `--json` print about a run.

    `data` (JSON-able) is printed under `name` by `--json`; `view`, if given, is called only when a
    person is shown the run, and returns a rich renderable (or None for nothing to show).
    """

    name: str
    data: Any
    view: Callable[[], Any] | None = None


@hookspec
def podium_register_providers(register: Callable[[type[Provider] | ProviderRef], None]) -> None:
    """Register Provider classes by calling `register(ProviderClass)`; the class's `name` is its key.

    `register(ProviderRef(name, "module:Class"))` registers one without importing its module
    until a run or a check first uses it (`podium.plugins.manager.ProviderRef`).
    """


@hookspec
def podium_before_call(run: Any, step: str, request: AgentRequest) -> None:
    """Inspect a call before it is made; raise a PolicyError (e.g. BudgetExceeded) to refuse it."""


@hookspec
def podium_event(event: Event) -> None:
    """Observe every run event, after it is durable in the store."""


@hookspec
def podium_register_commands(cli: Any) -> None:
    """Add commands to the `podium` click group."""


@hookspec
def podium_run_summary(run: Run, store: RunStore) -> RunSummary | None:
    """Add a named piece (a RunSummary: JSON data and a view for people) to `podium show` and `--json`."""


@hookspec
def podium_span_attributes(event: Event) -> dict[str, Any] | None:
    """Attributes for the trace span that `event` ends (called for each event of a run, in order)."""
