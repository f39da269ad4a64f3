"""Fixtures for the core tests: workflow files and the errors they raise, and the engine harness
(a memory store, a fake clock, test providers) the engine's tests run workflows with."""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse
from podium.core.engine import Engine
from podium.core.errors import WorkflowError
from podium.core.events import Event, EventType
from podium.core.loader import resolve_inputs
from podium.core.run import Run
from podium.core.spec import Workflow
from podium.core.store import MemoryStore, RunStore
from podium.plugins import hookimpl
from podium.plugins.manager import load_plugins
from podium.testing import ProviderPlugin, function_provider


@pytest.fixture
def flow_file(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "flow.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_error(flow_file: Callable[..., Path]) -> Callable[..., tuple[WorkflowError, Path]]:
    """Write a workflow file, load it with `podium.load`, and return the WorkflowError raised."""

    def fail(text: str, name: str = "flow.yaml") -> tuple[WorkflowError, Path]:
        path = flow_file(text, name)
        with pytest.raises(WorkflowError) as info:
            podium.load(path)
        return info.value, path

    return fail


@pytest.fixture
def forget_modules() -> Iterator[Callable[[str], None]]:
    """Register top-level module names imported from tmp_path; they leave sys.modules afterwards."""
    names: list[str] = []
    yield names.append
    for top in names:
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]


# --- the engine under test: a memory store, a fake clock, a seeded rng, test providers ---------


class FakeClock:
    """Time that only moves when the engine sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Scripted:
    """A provider's replies in sequence (the last repeats): text, an exception to raise, or an
    AgentResponse. It keeps every request, and the most calls it ever had in flight at once."""

    def __init__(self, replies: Sequence[Any], latency: float = 0.0) -> None:
        self.replies = list(replies)
        self.latency = latency
        self.requests: list[AgentRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: AgentRequest) -> str | AgentResponse:
        reply = self.replies[min(len(self.requests), len(self.replies) - 1)]
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if isinstance(reply, BaseException):
                raise reply
            return reply
        finally:
            self.in_flight -= 1


class Recorder:
    """An observer: keeps every event it sees, notes any it saw before the store had it, and can
    wake a test on one event type."""

    def __init__(self, store: RunStore | None = None, wake_on: EventType | None = None) -> None:
        self.store = store
        self.seen: list[Event] = []
        self.not_yet_stored: list[int] = []
        self.wake_on = wake_on
        self.woken = asyncio.Event()

    @hookimpl
    def podium_event(self, event: Event) -> None:
        self.seen.append(event)
        if self.store is not None and event.seq not in {e.seq for e in self.store.events(event.run_id)}:
            self.not_yet_stored.append(event.seq)
        if self.wake_on is not None and event.type is self.wake_on:
            self.woken.set()


class Harness:
    """An Engine with podium's built-in plugins, a memory store, a fake clock and a seeded rng,
    plus workflow files and python agent modules written to a temp dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.plugins = load_plugins(entry_points_too=False)
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.engine = Engine(plugins=self.plugins, store=self.store, clock=self.clock, rng=random.Random(0))
        self.run_id: str | None = None
        self.modules: list[str] = []

    def register(self, *plugins: object) -> None:
        for plugin in plugins:
            self.plugins.register(plugin)

    def recorder(self, *, wake_on: EventType | None = None) -> Recorder:
        """An observer of this harness's runs (pass it as `observers=` or `register` it)."""
        return Recorder(self.store, wake_on)

    def provider(self, *replies: Any, latency: float = 0.0, name: str = "fake") -> Scripted:
        """Register a provider `name` answering with `replies` (see Scripted); return its script."""
        script = Scripted(replies, latency)
        self.register(ProviderPlugin(function_provider(name, script)))
        return script

    def module(self, source: str) -> str:
        """Write a python module next to the workflows; `MOD` in the next workflow names it."""
        name = f"agents_{next(_counter)}_{self.tmp_path.name.replace('-', '_')}"
        (self.tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.modules.append(name)
        return name

    def load(self, text: str) -> Workflow:
        if self.modules:
            text = text.replace("MOD", self.modules[-1])
        path = self.tmp_path / f"flow_{next(_counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return podium.load(path, plugins=self.plugins)

    async def run(self, wf: Workflow | str, inputs: dict[str, Any] | None = None, **kw: Any) -> Run:
        """Run a workflow (or the YAML text of one) to its end; events() then reads this run."""
        workflow = self.load(wf) if isinstance(wf, str) else wf
        run = await self.engine.run(workflow, resolve_inputs(workflow, inputs or {}), **kw)
        self.run_id = run.run_id
        return run

    def events(self, type_: EventType | None = None, step: str | None = None) -> list[Event]:
        assert self.run_id is not None
        return [
            e
            for e in self.store.events(self.run_id)
            if (type_ is None or e.type is type_) and (step is None or e.step == step)
        ]

    def one(self, type_: EventType, step: str | None = None) -> Event:
        found = self.events(type_, step)
        assert len(found) == 1, found
        return found[0]

    def max_overlap(self) -> int:
        """Most calls in flight at once, from CallStarted / CallFinished|CallFailed in seq order."""
        in_flight = peak = 0
        open_calls: set[tuple[str | None, int | None, Any]] = set()
        for e in self.events():
            key = (e.step, e.attempt, e.data.get("item"))
            if e.type is EventType.CALL_STARTED:
                open_calls.add(key)
                in_flight += 1
                peak = max(peak, in_flight)
            elif e.type in (EventType.CALL_FINISHED, EventType.CALL_FAILED) and key in open_calls:
                open_calls.discard(key)
                in_flight -= 1
        return peak


_counter = itertools.count()


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[[], Harness]]:
    """Fresh harnesses (each its own store and plugins); their agent modules are forgotten after."""
    made: list[Harness] = []

    def make() -> Harness:
        made.append(Harness(tmp_path))
        return made[-1]

    yield make
    for name in {m for h in made for m in h.modules}:
        sys.modules.pop(name, None)


@pytest.fixture
def harness(make_harness: Callable[[], Harness]) -> Harness:
    """An engine with a memory store and a fake clock (see Harness)."""
    return make_harness()
