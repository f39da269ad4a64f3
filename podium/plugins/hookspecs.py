"""The pluggy hook specifications: the only contract between podium and its plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podium.plugins import hookspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from podium.core.calls import AgentRequest, Provider
    from podium.core.events import Event


@hookspec
def podium_register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register Provider classes by calling `register(ProviderClass)`; the class's `name` is its key."""


@hookspec
def podium_before_call(run: Any, step: str, request: AgentRequest) -> None:
    """Inspect a call before it is made; raise a PolicyError (e.g. BudgetExceeded) to refuse it."""


@hookspec
def podium_event(event: Event) -> None:
    """Observe every run event, after it is durable in the store."""


@hookspec
def podium_register_commands(cli: Any) -> None:
    """Add commands to the `podium` click group."""
