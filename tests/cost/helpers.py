"""Helpers for the cost tests: hand-made events at known times, and providers with known usage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.events import Event, EventType
from podium.plugins.manager import load_plugins
from podium.testing import ProviderPlugin


class Events:
    """Builds one run's events by hand, with the times given: for folds priced on a known date."""

    def __init__(self, run_id: str = "r1", workflow: str = "wf", functions: tuple[str, ...] = ()) -> None:
        self.run_id = run_id
        self.seq = 0
        self.items: list[Event] = []
        bindings = {a: {"providers": ["local"], "model": None, "function": "m:f"} for a in functions}
        self.add(
            EventType.RUN_STARTED, at=datetime(2026, 1, 1, tzinfo=UTC), workflow=workflow, bindings=bindings
        )

    def add(
        self,
        type_: EventType,
        step: str | None = None,
        attempt: int | None = None,
        *,
        at: datetime,
        **data: Any,
    ) -> Event:
        self.seq += 1
        event = Event(self.run_id, self.seq, type_, step, attempt, data, at)
        self.items.append(event)
        return event

    def call(
        self,
        step: str,
        *,
        provider: str = "local",
        model: str | None = "gpt-4o-mini",
        agent: str = "writer",
        attempt: int = 1,
        at: datetime = datetime(2026, 1, 1, 12, tzinfo=UTC),
        usage: dict[str, int] | None = None,
        session: str | None = None,
        item: int | None = None,
        native: dict[str, Any] | None = None,
    ) -> None:
        self.add(
            EventType.CALL_STARTED,
            step,
            attempt,
            at=at,
            provider=provider,
            model=model,
            agent=agent,
            item=item,
        )
        self.add(
            EventType.CALL_FINISHED, step, attempt, at=at, provider=provider, model=model, item=item,
            usage=usage or {"input_tokens": 1000, "output_tokens": 500},
            session_id=session or f"{self.run_id}-{step}", native=native,
        )  # fmt: skip


def replying(
    usage: Usage, *, text: str = "ok", calls: list[str] | None = None
) -> Callable[[AgentRequest], AgentResponse]:
    """A provider handler answering every call with `text` and `usage`, under the requested model."""

    def handler(request: AgentRequest) -> AgentResponse:
        if calls is not None:
            calls.append(request.step)
        return AgentResponse(text=text, usage=usage, model=request.model)

    return handler


def plugins_with(*providers: type) -> Any:
    """A plugin manager with podium's built-ins (the cost plugin among them) and these providers."""
    return load_plugins(entry_points_too=False, extra=[ProviderPlugin(*providers)])


COST_PLUGIN = "podium.cost.plugin:CostPlugin"


def cost_plugin(pm: Any) -> Any:
    """The cost plugin instance a plugin manager made (it holds that manager's meter)."""
    plugin = getattr(pm, "pm", pm).get_plugin(COST_PLUGIN)
    assert plugin is not None, f"{COST_PLUGIN} is not registered"
    return plugin
