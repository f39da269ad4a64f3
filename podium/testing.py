"""Test doubles for podium users (and podium's own tests), and a pytest plugin with fixtures.

    from podium.testing import function_provider

    def reply(request):                      # an AgentRequest in, text or AgentResponse out
        return f"echo: {request.prompt}"

    def test_my_flow(podium_plugins, podium_store):
        podium_plugins.register_provider(function_provider("fake", reply))
        run = podium.run("flow.yaml", provider="fake", plugins=podium_plugins.pm,
                         store=podium_store)

The fixtures: `podium_plugins` (a fresh plugin manager, no installed entry points, with
`register_provider` and `register` helpers; everything registered is gone after the test),
`podium_store` (an in-memory RunStore), `podium_events` (every event of runs in this test).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from podium.plugins import hookimpl

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest, AgentResponse, Provider
    from podium.core.events import Event
    from podium.core.store import MemoryStore
    from podium.plugins.manager import Plugins

Handler = Callable[["AgentRequest"], "str | AgentResponse | Awaitable[str | AgentResponse]"]


def function_provider(name: str, handler: Handler) -> type[Provider]:
    """A Provider class named `name` whose every call is answered by `handler(request)`.

    The handler may be sync or async, and may return text, an AgentResponse, or raise one of
    `podium.core.errors` (Throttled, TransientError, …) to exercise retry and fallback.
    """
    from podium.core.calls import AgentResponse, Provider, Usage

    class FunctionProvider(Provider):
        description = f"test double answering with {getattr(handler, '__name__', 'a function')}"
        any_model = True  # `model: fast` needs no mapping for a test double

        async def invoke(self, request: AgentRequest) -> AgentResponse:
            result = handler(request)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, AgentResponse):
                return result
            return AgentResponse(text=str(result), usage=Usage(input_tokens=1, output_tokens=1))

    FunctionProvider.name = name
    FunctionProvider.__name__ = f"FunctionProvider[{name}]"
    return FunctionProvider


class ProviderPlugin:
    """A plugin object registering the given provider classes."""

    def __init__(self, *classes: type[Provider]) -> None:
        self.classes = classes

    @hookimpl
    def podium_register_providers(self, register: Callable[[type[Provider]], None]) -> None:
        for cls in self.classes:
            register(cls)


class EventRecorder:
    """A plugin object that keeps every event it sees, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def podium_event(self, event: Event) -> None:
        self.events.append(event)

    def types(self, step: str | None = None) -> list[str]:
        return [str(e.type) for e in self.events if step is None or e.step == step]


class PluginsFixture:
    """The `podium_plugins` fixture: a plugin manager plus helpers to register test plugins."""

    def __init__(self, pm: Plugins) -> None:
        self.pm = pm

    def register(self, plugin: object) -> object:
        self.pm.register(plugin)
        return plugin

    def register_provider(self, *classes: type[Provider]) -> None:
        self.pm.register(ProviderPlugin(*classes))


@pytest.fixture
def podium_plugins() -> Iterator[PluginsFixture]:
    """A fresh plugin manager with podium's built-ins only; test plugins vanish afterwards."""
    from podium.plugins.manager import load_plugins

    yield PluginsFixture(load_plugins(entry_points_too=False))


@pytest.fixture
def podium_store() -> MemoryStore:
    """An in-memory run store."""
    from podium.core.store import MemoryStore

    return MemoryStore()


@pytest.fixture
def podium_events(podium_plugins: PluginsFixture) -> EventRecorder:
    """Every event of the runs made with `podium_plugins.pm` in this test."""
    recorder = EventRecorder()
    podium_plugins.register(recorder)
    return recorder


def reply_from(mapping: dict[str, Any]) -> Handler:
    """A handler answering by step id from `mapping` (a convenience for small tests)."""

    def handler(request: AgentRequest) -> str:
        return str(mapping[request.step])

    return handler


def agent_request(
    prompt: str = "hello",
    *,
    provider: str,
    model: str | None = None,
    step: str = "s",
    agent: str = "a",
    attempt: int = 1,
    binding: dict[str, Any] | None = None,
    run_id: str = "run-1",
    session_id: str | None = None,
    **fields: Any,
) -> AgentRequest:
    """An AgentRequest as the engine would hand it to `provider`, for testing a provider directly:
    one user message, the idempotency key and session id the engine would give step `step`."""
    from podium.core.calls import AgentRequest, Message

    return AgentRequest(
        run_id=run_id,
        step=step,
        agent=agent,
        attempt=attempt,
        provider=provider,
        model=model,
        binding=binding or {},
        messages=[Message(role="user", content=prompt)],
        idempotency_key=f"{run_id}:{step}::{attempt}",
        session_id=session_id if session_id is not None else f"{run_id}-{step}",
        **fields,
    )


def run_cli(
    *args: str, db: Path, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`podium ARGS…` in a subprocess of this Python, against the run database `db`, as a user runs
    it (no colour; `env` adds to the environment); its exit code, stdout and stderr come back."""
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        cwd=cwd,
        env={**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
