"""The engine (podium.core.executor): scheduling, limits, retries, timeouts, fallback,
validation and repair, foreach, when, failure, function agents, cancellation and events.

Everything is asserted on the run's events and its folded Run, never on wall-clock thresholds.
Backoff waits go through a fake clock; the few real sleeps (mock latency) are at most 0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import textwrap
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse, Provider, Usage
from podium.core.engine import Engine
from podium.core.errors import BudgetExceeded, TransientError
from podium.core.events import Event, EventType, RunStatus, StepStatus
from podium.core.loader import resolve_inputs
from podium.core.replay import fold
from podium.core.run import Run
from podium.core.spec import Workflow
from podium.core.store import MemoryStore
from podium.plugins import hookimpl
from podium.plugins.manager import load_plugins

# --- helpers --------------------------------------------------------------------------------

_counter = itertools.count()


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


Handler = Callable[[AgentRequest], Awaitable[AgentResponse]]


def fake_provider(handler: Handler, provider_name: str = "fake") -> type[Provider]:
    """A test-only Provider class whose calls go to `handler`; it records requests and overlap."""

    class Fake(Provider):
        name: ClassVar[str] = provider_name
        requests: ClassVar[list[AgentRequest]] = []
        in_flight: ClassVar[int] = 0
        max_in_flight: ClassVar[int] = 0

        async def invoke(self, request: AgentRequest) -> AgentResponse:
            cls = type(self)
            cls.requests.append(request)
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            try:
                return await handler(request)
            finally:
                cls.in_flight -= 1

    Fake.requests = []
    return Fake


def scripted(*replies: Any, latency: float = 0.0) -> Handler:
    """Replies in sequence (the last repeats): text, an exception to raise, or a response."""
    queue = list(replies)
    position = 0

    async def handle(request: AgentRequest) -> AgentResponse:
        nonlocal position
        reply = queue[min(position, len(queue) - 1)]
        position += 1
        if latency:
            await asyncio.sleep(latency)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, AgentResponse):
            return reply
        return AgentResponse(text=reply, usage=Usage(input_tokens=1, output_tokens=1))

    return handle


def sleeper(seconds: float, text: str = "late") -> Handler:
    async def handle(request: AgentRequest) -> AgentResponse:
        await asyncio.sleep(seconds)
        return AgentResponse(text=text)

    return handle


class Registers:
    """A plugin object registering provider classes."""

    def __init__(self, *classes: type[Provider]) -> None:
        self.classes = classes

    @hookimpl
    def podium_register_providers(self, register: Callable[[type], None]) -> None:
        for cls in self.classes:
            register(cls)


class Recorder:
    """An observer plugin: keeps every event it sees, and can wake a test on one type."""

    def __init__(self, store: MemoryStore | None = None, wake_on: EventType | None = None) -> None:
        self.store = store
        self.seen: list[Event] = []
        self.not_yet_stored: list[int] = []
        self.wake_on = wake_on
        self.woken = asyncio.Event()

    @hookimpl
    def podium_event(self, event: Event) -> None:
        self.seen.append(event)
        if self.store is not None:
            stored = {e.seq for e in self.store.events(event.run_id)}
            if event.seq not in stored:
                self.not_yet_stored.append(event.seq)
        if self.wake_on is not None and event.type is self.wake_on:
            self.woken.set()


def plugins(*extra: object) -> Any:
    return load_plugins(entry_points_too=False, extra=extra)


def write_module(tmp_path: Path, source: str) -> str:
    """Write a python module next to the workflow; return its (unique) name."""
    name = f"agents_{next(_counter)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def load(tmp_path: Path, text: str, pm: Any, *, module: str | None = None) -> Workflow:
    if module is not None:
        text = text.replace("MOD", module)
    path = tmp_path / f"flow_{next(_counter)}.yaml"
    path.write_text(textwrap.dedent(text))
    return podium.load(path, plugins=pm)


class Harness:
    """An engine with a memory store, a fake clock and a seeded rng."""

    def __init__(self, pm: Any) -> None:
        self.pm = pm
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.engine = Engine(plugins=pm, store=self.store, clock=self.clock, rng=random.Random(0))
        self.run_id: str | None = None

    async def run(self, wf: Workflow, inputs: dict[str, Any] | None = None, **kw: Any) -> Run:
        run = await self.engine.run(wf, resolve_inputs(wf, inputs or {}), **kw)
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


def max_overlap(events: Iterable[Event]) -> int:
    """Most calls in flight at once, from CallStarted / CallFinished|CallFailed in seq order."""
    in_flight = peak = 0
    open_calls: set[tuple[str | None, int | None, Any]] = set()
    for e in sorted(events, key=lambda e: e.seq):
        key = (e.step, e.attempt, e.data.get("item"))
        if e.type is EventType.CALL_STARTED:
            open_calls.add(key)
            in_flight += 1
            peak = max(peak, in_flight)
        elif e.type in (EventType.CALL_FINISHED, EventType.CALL_FAILED) and key in open_calls:
            open_calls.discard(key)
            in_flight -= 1
    return peak


# --- parallelism and limits -----------------------------------------------------------------


async def test_independent_steps_overlap_and_a_dependant_waits_for_both(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: par
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C, needs: [a, b]}
        mock:
          a: {reply: ra, latency: 0.2}
          b: {reply: rb, latency: 0.2}
          c: rc
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    start = {s: h.one(EventType.CALL_STARTED, s) for s in "abc"}
    finish = {s: h.one(EventType.CALL_FINISHED, s) for s in "abc"}
    first, second = sorted("ab", key=lambda s: start[s].seq)
    # the second started before the first finished: they overlapped
    assert start[second].seq < finish[first].seq
    assert start[second].at < finish[first].at
    # the dependant starts only after both have finished
    assert start["c"].seq > max(finish["a"].seq, finish["b"].seq)
    assert start["c"].at >= max(finish["a"].at, finish["b"].at)
    assert h.one(EventType.STEP_STARTED, "c").seq > max(
        h.one(EventType.STEP_SUCCEEDED, "a").seq, h.one(EventType.STEP_SUCCEEDED, "b").seq
    )
    assert run.steps["c"].output == "rc"


async def test_global_concurrency_one_serialises_calls(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: serial
        defaults: {concurrency: 1}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C}
        mock:
          w: {reply: ok, latency: 0.02}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    calls = [e for e in h.events() if e.type in (EventType.CALL_STARTED, EventType.CALL_FINISHED)]
    assert [e.type for e in calls] == [EventType.CALL_STARTED, EventType.CALL_FINISHED] * 3
    assert max_overlap(h.events()) == 1


async def test_per_provider_concurrency_caps_calls_in_flight(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: capped
        providers:
          local: {concurrency: 2}
        agents: {w: {}}
        steps:
          fan: {agent: w, foreach: [1, 2, 3, 4, 5, 6], prompt: "n{{ item }}"}
          x: {agent: w, prompt: X}
        mock:
          w: {reply: ok, latency: 0.03}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["fan"].output == ["ok"] * 6
    assert len(h.events(EventType.CALL_STARTED)) == 7
    assert max_overlap(h.events()) == 2  # capped at 2, and the cap is reached


async def test_per_provider_limit_counted_by_the_provider(tmp_path: Path) -> None:
    fake = fake_provider(sleeper(0.03, "ok"))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: capped-fake
        defaults: {provider: fake}
        providers:
          fake: {concurrency: 2}
        agents: {w: {}}
        steps:
          fan: {agent: w, foreach: [1, 2, 3, 4, 5], prompt: "n{{ item }}"}
        """,
        pm,
    )
    run = await Harness(pm).run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert len(fake.requests) == 5
    assert fake.max_in_flight == 2


async def test_a_call_waiting_for_its_provider_does_not_hold_a_global_slot(
    tmp_path: Path,
) -> None:
    """global concurrency 2, provider `fake` limited to 1: the local call should run alongside
    the first fake call instead of queueing behind the second fake call, which is only
    waiting for fake's own limit."""
    fake = fake_provider(sleeper(0.1, "ok"))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: hol
        defaults: {concurrency: 2}
        providers:
          fake: {concurrency: 1}
        agents:
          remote: {provider: fake}
          near: {provider: local}
        steps:
          f1: {agent: remote, prompt: one}
          f2: {agent: remote, prompt: two}
          l: {agent: near, prompt: three}
        mock:
          near: quick
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    fake_done = [e for e in h.events(EventType.CALL_FINISHED) if e.data["provider"] == "fake"]
    first_fake = min(fake_done, key=lambda e: e.seq)
    assert h.one(EventType.CALL_STARTED, "l").seq < first_fake.seq


# --- retries, backoff, retry-after, fallback ------------------------------------------------


async def test_retries_back_off_exponentially_capped_without_jitter(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: backoff
        agents: {w: {}}
        steps:
          s:
            agent: w
            prompt: hi
            retry: {attempts: 5, backoff: 1, multiplier: 2, max_backoff: 5, jitter: false}
        mock:
          s:
            - {error: transient}
            - {error: transient}
            - {error: transient}
            - {error: transient}
            - done
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["s"].output == "done"
    assert h.clock.sleeps == [1, 2, 4, 5]  # 8 is capped at max_backoff
    failed = h.events(EventType.CALL_FAILED, "s")
    assert [e.data["kind"] for e in failed] == ["transient"] * 4
    assert all(e.data["retryable"] is True for e in failed)
    assert [e.data["delay"] for e in failed] == [1, 2, 4, 5]
    assert [e.attempt for e in h.events(EventType.CALL_STARTED, "s")] == [1, 2, 3, 4, 5]
    assert run.steps["s"].attempts == 5
    assert run.steps["s"].failed_calls == 4


async def test_jittered_backoff_stays_within_half_and_full_delay(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: jitter
        defaults:
          retry: {attempts: 4, backoff: 2, multiplier: 3, max_backoff: 100}
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        mock:
          s: [{error: throttled}, {error: throttled}, {error: throttled}, fine]
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert len(h.clock.sleeps) == 3
    for n, slept in enumerate(h.clock.sleeps):
        full = 2 * 3**n
        assert full / 2 <= slept <= full


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: retry-after
        agents: {w: {}}
        steps:
          s:
            agent: w
            prompt: hi
            retry: {attempts: 3, backoff: 0.5, max_backoff: 2}
        mock:
          s: [{error: throttled, retry_after: 7}, {error: throttled, retry_after: 0.1}, ok]
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    failed = h.events(EventType.CALL_FAILED, "s")
    assert [e.data["retry_after"] for e in failed] == [7, 0.1]
    assert [e.data["kind"] for e in failed] == ["throttled", "throttled"]
    # the wait is at least what the service asked for, even past max_backoff
    assert h.clock.sleeps[0] >= 7
    assert failed[0].data["delay"] >= 7
    assert h.clock.sleeps[1] >= 0.1
    assert h.clock.sleeps == [e.data["delay"] for e in failed]


async def test_a_non_retryable_error_is_not_retried(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: invalid
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi, retry: {attempts: 5}}
        mock:
          s: [{error: invalid_request, reply: bad field}, never]
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert len(h.events(EventType.CALL_STARTED, "s")) == 1
    failed = h.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "invalid_request"
    assert failed.data["retryable"] is False
    assert failed.data["delay"] is None
    assert h.clock.sleeps == []
    assert run.steps["s"].status is StepStatus.FAILED
    assert run.steps["s"].error is not None
    assert run.steps["s"].error.kind == "invalid_request"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "invalid_request")


async def test_exhausted_retries_fall_back_to_the_next_provider(tmp_path: Path) -> None:
    fake = fake_provider(scripted(TransientError("fake is down", provider="fake")))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: fallback
        agents:
          w: {provider: fake}
        steps:
          s:
            agent: w
            prompt: hi
            fallback: [local]
            retry: {attempts: 2, backoff: 1, jitter: false}
        mock:
          s: from local
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["s"].output == "from local"
    assert run.steps["s"].provider == "local"
    assert len(fake.requests) == 2
    started = h.events(EventType.CALL_STARTED, "s")
    assert [e.data["provider"] for e in started] == ["fake", "fake", "local"]
    assert [e.attempt for e in started] == [1, 2, 3]
    failed = h.events(EventType.CALL_FAILED, "s")
    assert [(e.data["provider"], e.data["kind"]) for e in failed] == [
        ("fake", "transient"),
        ("fake", "transient"),
    ]
    assert [e.data["retryable"] for e in failed] == [True, True]
    assert [e.data["delay"] for e in failed] == [1, None]  # no wait before switching provider
    assert h.clock.sleeps == [1]
    assert h.one(EventType.STEP_SUCCEEDED, "s").data["provider"] == "local"


@pytest.mark.parametrize("level", ["agent", "defaults"])
async def test_fallback_from_agent_or_defaults(tmp_path: Path, level: str) -> None:
    fake = fake_provider(scripted(TransientError("down", provider="fake")))
    pm = plugins(Registers(fake))
    agent = "{provider: fake, fallback: local}" if level == "agent" else "{provider: fake}"
    defaults = "{fallback: [local]}" if level == "defaults" else "{}"
    wf = load(
        tmp_path,
        f"""
        name: fallback-{level}
        defaults: {defaults}
        agents:
          w: {agent}
        steps:
          s: {{agent: w, prompt: hi, retry: {{attempts: 1}}}}
        mock:
          w: rescued
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["s"].output == "rescued"
    assert [e.data["provider"] for e in h.events(EventType.CALL_STARTED)] == ["fake", "local"]
    assert h.one(EventType.RUN_STARTED).data["bindings"]["w"]["providers"] == ["fake", "local"]


async def test_a_step_fallback_overrides_the_agent_fallback(tmp_path: Path) -> None:
    fake = fake_provider(scripted(TransientError("down", provider="fake")))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: no-fallback
        agents:
          w: {provider: fake, fallback: [local]}
        steps:
          s: {agent: w, prompt: hi, fallback: [], retry: {attempts: 1}}
        mock:
          w: never used
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert [e.data["provider"] for e in h.events(EventType.CALL_STARTED)] == ["fake"]
    assert run.error is not None
    assert (run.error.kind, run.error.provider) == ("transient", "fake")


async def test_an_unmapped_provider_exception_becomes_a_provider_error(tmp_path: Path) -> None:
    fake = fake_provider(scripted(RuntimeError("socket exploded")))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: unmapped
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    failed = h.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "provider"
    assert "RuntimeError" in failed.data["message"]
    assert "socket exploded" in failed.data["message"]
    assert run.error is not None
    assert run.error.step == "s"


# --- timeouts -------------------------------------------------------------------------------


async def test_a_slow_call_times_out_is_retried_then_the_step_fails(tmp_path: Path) -> None:
    fake = fake_provider(sleeper(30))
    pm = plugins(Registers(fake))
    wf = load(
        tmp_path,
        """
        name: timeout
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          s:
            agent: w
            prompt: hi
            timeout: 0.05
            retry: {attempts: 2, backoff: 3, jitter: false}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert len(fake.requests) == 2
    assert all(r.timeout == 0.05 for r in fake.requests)
    failed = h.events(EventType.CALL_FAILED, "s")
    assert [e.data["kind"] for e in failed] == ["timeout", "timeout"]
    assert [e.data["retryable"] for e in failed] == [True, True]
    assert [e.data["delay"] for e in failed] == [3, None]
    assert h.clock.sleeps == [3]
    step_failed = h.one(EventType.STEP_FAILED, "s")
    assert step_failed.data["kind"] == "timeout"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "timeout")
    assert h.events(EventType.CALL_FINISHED) == []


# --- output validation and repair -----------------------------------------------------------

SCHEMA_STEP = """
name: repair
defaults: {provider: fake}
agents: {w: {}}
steps:
  s:
    agent: w
    prompt: give me a title
    output:
      schema:
        type: object
        required: [title]
        properties: {title: {type: string}}
  after: {agent: w, prompt: "use {{ steps.s.output.title }}", needs: [s]}
"""


async def test_invalid_json_is_repaired_once_with_the_validation_error(tmp_path: Path) -> None:
    fake = fake_provider(scripted("Sure! Here it is: title=x", '{"title": "x"}', "after"))
    pm = plugins(Registers(fake))
    wf = load(tmp_path, SCHEMA_STEP, pm)
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == {"title": "x"}
    started = h.events(EventType.CALL_STARTED, "s")
    assert [e.data["repair"] for e in started] == [False, True]
    failed = h.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "output_invalid"
    assert failed.data["delay"] is None
    assert h.clock.sleeps == []  # the repair retry does not back off
    first, second = fake.requests[0], fake.requests[1]
    assert first.step == second.step == "s"
    assert len(first.messages) == 1
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content == "Sure! Here it is: title=x"
    assert failed.data["message"] in second.messages[2].content
    assert "not JSON" in second.messages[2].content
    assert second.prompt == "give me a title"
    assert second.output_schema is not None
    assert second.output_schema["required"] == ["title"]
    # the parsed object, not its text, reaches the dependant
    assert fake.requests[2].prompt == "use x"


async def test_a_schema_mismatch_triggers_the_repair_too(tmp_path: Path) -> None:
    fake = fake_provider(scripted('{"name": "x"}', '{"title": "y"}', "after"))
    pm = plugins(Registers(fake))
    wf = load(tmp_path, SCHEMA_STEP, pm)
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == {"title": "y"}
    failed = h.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "output_invalid"
    assert "title" in failed.data["message"]
    assert "title" in fake.requests[1].messages[-1].content
    assert [e.data["repair"] for e in h.events(EventType.CALL_STARTED, "s")] == [False, True]


async def test_twice_invalid_output_fails_the_step_and_never_reaches_dependants(
    tmp_path: Path,
) -> None:
    fake = fake_provider(scripted("nope", "still nope"))
    pm = plugins(Registers(fake))
    wf = load(tmp_path, SCHEMA_STEP, pm)
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert len(fake.requests) == 2  # one try and one repair, not retried further
    assert run.steps["s"].status is StepStatus.FAILED
    assert run.steps["s"].output is None
    assert run.steps["s"].error is not None
    assert run.steps["s"].error.kind == "output_invalid"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "output_invalid")
    assert h.events(EventType.STEP_SUCCEEDED) == []
    assert h.events(step="after") == []  # the dependant never started
    assert run.steps["after"].status is StepStatus.PENDING
    assert run.outputs == {}


async def test_fenced_json_replies_are_accepted(tmp_path: Path) -> None:
    fake = fake_provider(scripted('```json\n{"title": "fenced"}\n```', "after"))
    pm = plugins(Registers(fake))
    wf = load(tmp_path, SCHEMA_STEP, pm)
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == {"title": "fenced"}
    assert len(h.events(EventType.CALL_STARTED, "s")) == 1
    assert h.events(EventType.CALL_FAILED) == []


async def test_mocked_replies_are_validated_against_a_named_type(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: typed
        types:
          Plan: {type: object, required: [topics], properties: {topics: {type: array}}}
        agents: {w: {}}
        steps:
          plan: {agent: w, prompt: plan, output: Plan}
          count: {agent: w, prompt: n, output: integer}
        mock:
          plan: ['{"topics": "not a list"}', {reply: {topics: [a, b]}}]
          count: "42"
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["plan"].output == {"topics": ["a", "b"]}
    assert run.steps["count"].output == 42
    assert [e.data["repair"] for e in h.events(EventType.CALL_STARTED, "plan")] == [False, True]


# --- foreach --------------------------------------------------------------------------------


async def test_foreach_gathers_results_in_item_order_whatever_the_latency(tmp_path: Path) -> None:
    pm = plugins()
    module = write_module(
        tmp_path,
        """
        def plan(prompt):
            return ["slow", "fast", "mid"]
        """,
    )
    wf = load(
        tmp_path,
        """
        name: fanout
        agents:
          planner: {function: "MOD:plan"}
          w: {}
        steps:
          plan: {agent: planner}
          each:
            agent: w
            needs: [plan]
            foreach: "{{ steps.plan.output }}"
            prompt: "#{{ index }} {{ item }}"
        mock:
          each:
            - {match: "slow$", reply: S, latency: 0.15}
            - {match: "fast$", reply: F}
            - {match: "mid$", reply: M, latency: 0.05}
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["each"].output == ["S", "F", "M"]
    assert run.steps["each"].items == 3
    started = h.events(EventType.CALL_STARTED, "each")
    by_item = {e.data["item"]: e.data["prompt"] for e in started}
    assert by_item == {0: "#0 slow", 1: "#1 fast", 2: "#2 mid"}
    finished = [e.data["item"] for e in h.events(EventType.CALL_FINISHED, "each")]
    assert finished == [1, 2, 0]  # they did finish out of order
    # each item's output is stored once, in its own ItemSucceeded event
    items = {e.data["item"] for e in h.events(EventType.ITEM_SUCCEEDED, "each")}
    assert items == {0, 1, 2}
    assert h.one(EventType.STEP_SUCCEEDED, "each").data == {"items": 3}


async def test_foreach_function_agent_receives_item_and_index(tmp_path: Path) -> None:
    pm = plugins()
    module = write_module(
        tmp_path,
        """
        import asyncio

        async def shout(prompt, item, index):
            await asyncio.sleep(0.01 * (3 - index))
            return {"i": index, "item": item.upper(), "prompt": prompt}
        """,
    )
    wf = load(
        tmp_path,
        """
        name: fanout-fn
        inputs:
          words: {type: array, default: [a, b, c]}
        agents:
          s: {function: "MOD:shout"}
        steps:
          each: {agent: s, foreach: "{{ inputs.words }}", prompt: "say {{ item }}"}
        outputs:
          all: "{{ steps.each.output }}"
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    expected = [
        {"i": 0, "item": "A", "prompt": "say a"},
        {"i": 1, "item": "B", "prompt": "say b"},
        {"i": 2, "item": "C", "prompt": "say c"},
    ]
    assert run.steps["each"].output == expected
    assert run.outputs == {"all": expected}
    keys = {e.data["idempotency_key"] for e in h.events(EventType.CALL_STARTED, "each")}
    sessions = {e.data["session_id"] for e in h.events(EventType.CALL_STARTED, "each")}
    assert len(keys) == 3
    assert len(sessions) == 3


async def test_foreach_over_an_empty_list_succeeds_with_an_empty_list(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: empty
        inputs:
          xs: {type: array, default: []}
        agents: {w: {}}
        steps:
          each: {agent: w, foreach: "{{ inputs.xs }}", prompt: "{{ item }}"}
        mock:
          w: never
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["each"].output == []
    assert h.events(EventType.CALL_STARTED) == []


async def test_foreach_that_is_not_a_list_fails_the_step(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: not-a-list
        inputs:
          xs: {type: string, default: abc}
        agents: {w: {}}
        steps:
          each: {agent: w, foreach: "{{ inputs.xs }}", prompt: "{{ item }}"}
        mock:
          w: never
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.step == "each"
    assert "not a list" in run.error.message
    assert h.events(EventType.CALL_STARTED) == []


# --- when and skipping ----------------------------------------------------------------------


async def test_when_false_skips_and_dependants_are_skipped_visibly(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: when
        inputs:
          go: {type: boolean, default: false}
        agents: {w: {}}
        steps:
          x: {agent: w, prompt: X, when: "{{ inputs.go }}"}
          y: {agent: w, prompt: Y, needs: [x]}
          z: {agent: w, prompt: Z, needs: [y]}
          own: {agent: w, prompt: OWN, needs: [x], when: "{{ steps.x.status == 'skipped' }}"}
          own_no: {agent: w, prompt: NO, needs: [x], when: "{{ steps.x.output is not none }}"}
        outputs:
          x: "{{ steps.x.output }}"
          own: "{{ steps.own.output }}"
        mock:
          w: ran
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    steps = run.steps
    assert steps["x"].status is StepStatus.SKIPPED
    assert "when" in (steps["x"].reason or "")
    assert "false" in (steps["x"].reason or "")
    assert h.one(EventType.STEP_SKIPPED, "x").data["reason"] == steps["x"].reason
    assert steps["y"].status is StepStatus.SKIPPED
    assert steps["y"].reason == "needs 'x', which was skipped"
    assert steps["z"].status is StepStatus.SKIPPED
    assert steps["z"].reason == "needs 'y', which was skipped"
    assert steps["own"].status is StepStatus.SUCCEEDED
    assert steps["own"].output == "ran"
    assert steps["own_no"].status is StepStatus.SKIPPED
    assert [e.step for e in h.events(EventType.CALL_STARTED)] == ["own"]
    assert run.outputs == {"x": None, "own": "ran"}


async def test_when_true_runs_the_step(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: when-true
        inputs:
          go: {type: boolean, default: true}
        agents: {w: {}}
        steps:
          x: {agent: w, prompt: X, when: "{{ inputs.go }}"}
          y: {agent: w, prompt: Y, needs: [x]}
        mock:
          w: ran
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED
    assert [run.steps[s].status for s in "xy"] == [StepStatus.SUCCEEDED] * 2
    assert h.events(EventType.STEP_SKIPPED) == []


# --- failure --------------------------------------------------------------------------------


async def test_a_failing_step_fails_the_run_and_in_flight_siblings_finish(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: fails
        agents: {w: {}}
        steps:
          bad: {agent: w, prompt: B}
          sibling: {agent: w, prompt: S}
          after_bad: {agent: w, prompt: AB, needs: [bad]}
          after_sibling: {agent: w, prompt: AS, needs: [sibling]}
        mock:
          bad: {error: auth, reply: expired token}
          sibling: {reply: fine, latency: 0.1}
          w: unused
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.step == "bad"
    assert run.error.kind == "auth"
    assert "expired token" in run.error.message
    assert run.error.provider == "local"
    assert run.steps["bad"].status is StepStatus.FAILED
    # the sibling was in flight when `bad` failed; it still finished and was recorded
    assert h.one(EventType.STEP_FAILED, "bad").seq < h.one(EventType.CALL_FINISHED, "sibling").seq
    assert run.steps["sibling"].status is StepStatus.SUCCEEDED
    assert run.steps["sibling"].output == "fine"
    # nothing downstream started after the failure
    assert run.steps["after_bad"].status is StepStatus.PENDING
    assert h.events(step="after_bad") == []
    assert run.steps["after_sibling"].status is StepStatus.PENDING
    finished = h.one(EventType.RUN_FINISHED)
    assert finished.seq == h.events()[-1].seq
    assert finished.data["status"] == "failed"
    assert finished.data["error"]["step"] == "bad"


async def test_a_missing_mock_reply_is_an_invalid_request_naming_the_fix(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: unmocked
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        """,
        pm,
    )
    run = await Harness(pm).run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.kind == "invalid_request"
    assert run.error.fix is not None
    assert "mock" in run.error.fix


async def test_a_policy_refusal_stops_the_run(tmp_path: Path) -> None:
    class Budget:
        @hookimpl
        def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
            if step == "b":
                raise BudgetExceeded("over budget", fix="raise the budget")

    pm = plugins(Budget())
    wf = load(
        tmp_path,
        """
        name: budget
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B, needs: [a]}
        mock:
          w: ok
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.STOPPED
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("b", "budget")
    assert h.events(EventType.CALL_STARTED, "b") == []
    assert run.steps["a"].status is StepStatus.SUCCEEDED


# --- function agents ------------------------------------------------------------------------

FUNCTIONS = """
import asyncio

def upper(prompt):
    return prompt.upper()

async def from_inputs(prompt, inputs):
    await asyncio.sleep(0)
    return {"topic": inputs["topic"], "prompt": prompt}

def reads_steps(prompt, steps):
    return {"seen": sorted(steps), "up": steps["first"]}

def everything(prompt, **context):
    return sorted(context)

def only_prompt(prompt):
    return "fine"

def boom(prompt):
    raise ValueError("the model fell over")
"""


async def test_function_agents_sync_async_and_context_kwargs(tmp_path: Path) -> None:
    pm = plugins()
    module = write_module(tmp_path, FUNCTIONS)
    wf = load(
        tmp_path,
        """
        name: functions
        inputs:
          topic: {type: string, default: tides}
        agents:
          up: {function: "MOD:upper"}
          fi: {function: "MOD:from_inputs"}
          rs: {function: "MOD:reads_steps"}
          ev: {function: "MOD:everything"}
          op: {function: "MOD:only_prompt"}
        steps:
          first: {agent: up, prompt: "about {{ inputs.topic }}"}
          second: {agent: fi, prompt: "{{ steps.first.output }}", needs: [first]}
          third: {agent: rs, needs: [second]}
          fourth: {agent: ev, needs: [first]}
          fifth: {agent: op, prompt: p, needs: [first]}
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    out = {sid: s.output for sid, s in run.steps.items()}
    assert out["first"] == "ABOUT TIDES"
    assert out["second"] == {"topic": "tides", "prompt": "ABOUT TIDES"}
    # `steps` holds every upstream step's output (direct and indirect), and only those
    assert out["third"] == {"seen": ["first", "second"], "up": "ABOUT TIDES"}
    assert set(out["fourth"]) >= {"inputs", "steps", "step", "run_id", "agent"}
    assert "prompt" not in out["fourth"]
    assert "item" not in out["fourth"]
    assert out["fifth"] == "fine"  # no context kwargs forced on a function that takes none
    assert all(e.data["provider"] == "local" for e in h.events(EventType.CALL_STARTED))


async def test_a_raising_function_fails_the_step_with_agent_error(tmp_path: Path) -> None:
    pm = plugins()
    module = write_module(tmp_path, FUNCTIONS)
    wf = load(
        tmp_path,
        """
        name: boom
        agents:
          b: {function: "MOD:boom"}
        steps:
          s: {agent: b, retry: {attempts: 3}}
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert len(h.events(EventType.CALL_STARTED, "s")) == 1  # not retried
    step = run.steps["s"]
    assert step.error is not None
    assert step.error.kind == "agent_error"
    assert f"{module}:boom" in step.error.message
    assert "ValueError" in step.error.message
    assert "the model fell over" in step.error.message
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "agent_error")


# --- cancellation ---------------------------------------------------------------------------


async def test_cancelling_the_run_records_it_as_cancelled(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: cancel
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
          t: {agent: w, prompt: next, needs: [s]}
        mock:
          s: {reply: never, latency: 30}
          t: never
        """,
        pm,
    )
    h = Harness(pm)
    watcher = Recorder(wake_on=EventType.CALL_STARTED)
    task = asyncio.create_task(h.engine.run(wf, {}, run_id="run-cancel", observers=[watcher]))
    await asyncio.wait_for(watcher.woken.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    h.run_id = "run-cancel"
    events = h.events()
    assert events[-1].type is EventType.RUN_FINISHED
    assert events[-1].data["status"] == "cancelled"
    failed = h.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "cancelled"
    assert h.events(EventType.CALL_FINISHED) == []
    assert h.events(step="t") == []
    run = fold(events, wf.steps)
    assert run.status is RunStatus.CANCELLED
    assert h.store.get_run("run-cancel").status == "cancelled"
    # the observer was registered for that run only
    assert watcher not in pm.pm.get_plugins()


# --- events, keys, outputs, provider override -----------------------------------------------


async def test_every_event_is_stored_before_observers_see_it(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: durable
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B, needs: [a], retry: {attempts: 2, backoff: 0}}
        mock:
          a: ok
          b: [{error: transient}, ok]
        """,
        pm,
    )
    h = Harness(pm)
    recorder = Recorder(store=h.store)
    run = await h.run(wf, observers=[recorder])
    assert run.status is RunStatus.SUCCEEDED
    assert recorder.not_yet_stored == []
    assert [e.seq for e in recorder.seen] == [e.seq for e in h.events()]
    assert [e.seq for e in h.events()] == list(range(1, len(h.events()) + 1))
    assert recorder.seen[0].type is EventType.RUN_STARTED
    assert recorder.seen[-1].type is EventType.RUN_FINISHED


async def test_a_broken_observer_does_not_break_the_run(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def podium_event(self, event: Event) -> None:
            raise RuntimeError("observer bug")

    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: broken-observer
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
        mock:
          a: ok
        """,
        pm,
    )
    run = await Harness(pm).run(wf, observers=[Broken()])
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["a"].output == "ok"


async def test_idempotency_keys_and_session_ids_are_stable_per_run_and_step(
    tmp_path: Path,
) -> None:
    text = """
        name: keys
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          draft: {agent: w, prompt: hi, retry: {attempts: 2, backoff: 0}}
          review: {agent: w, prompt: again, needs: [draft]}
        """

    async def once() -> tuple[list[AgentRequest], list[Event]]:
        fake = fake_provider(scripted(TransientError("blip"), "one", "two"))
        pm = plugins(Registers(fake))
        h = Harness(pm)
        run = await h.run(load(tmp_path, text, pm), run_id="run-keys")
        assert run.status is RunStatus.SUCCEEDED, run.error
        return list(fake.requests), h.events(EventType.CALL_STARTED)

    requests, started = await once()
    assert len(requests) == 3
    for request, event in zip(requests, started, strict=True):
        key, session = request.idempotency_key, request.session_id
        assert isinstance(key, str)
        assert isinstance(session, str)
        assert "run-keys" in key
        assert request.step in key
        assert "run-keys" in session
        assert request.step in session
        assert event.data["idempotency_key"] == key
        assert event.data["session_id"] == session
        assert request.run_id == "run-keys"
    # a retry of the same step keeps its session
    assert requests[0].session_id == requests[1].session_id
    assert requests[0].session_id != requests[2].session_id
    assert requests[0].idempotency_key != requests[2].idempotency_key
    # the same run id and step give the same keys: a re-issued call is recognisable
    again, _ = await once()
    assert [r.idempotency_key for r in again] == [r.idempotency_key for r in requests]
    assert [r.session_id for r in again] == [r.session_id for r in requests]


async def test_single_expression_outputs_keep_their_type(tmp_path: Path) -> None:
    pm = plugins()
    module = write_module(
        tmp_path,
        """
        def make(prompt):
            return {"n": 3, "tags": ["a", "b"], "nested": {"ok": True}}
        """,
    )
    wf = load(
        tmp_path,
        """
        name: outputs
        agents:
          m: {function: "MOD:make"}
        steps:
          a: {agent: m}
        outputs:
          whole: "{{ steps.a.output }}"
          tags: "{{ steps.a.output.tags }}"
          n: "{{ steps.a.output.n }}"
          text: "n={{ steps.a.output.n }}"
          status: "{{ steps.a.status }}"
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {
        "whole": {"n": 3, "tags": ["a", "b"], "nested": {"ok": True}},
        "tags": ["a", "b"],
        "n": 3,
        "text": "n=3",
        "status": "succeeded",
    }
    assert h.one(EventType.RUN_FINISHED).data["outputs"] == run.outputs


async def test_an_output_template_error_fails_the_run(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: bad-output
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
        outputs:
          missing: "{{ steps.a.output.nope }}"
        mock:
          a: {reply: {present: 1}}
        """,
        pm,
    )
    run = await Harness(pm).run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "outputs.missing" in run.error.message


async def test_provider_override_rebinds_agents_but_not_functions(tmp_path: Path) -> None:
    fake = fake_provider(scripted("from fake"))
    pm = plugins(Registers(fake))
    module = write_module(tmp_path, FUNCTIONS)
    wf = load(
        tmp_path,
        """
        name: override
        agents:
          writer: {provider: local}
          fn: {function: "MOD:upper"}
        steps:
          w: {agent: writer, prompt: hi}
          f: {agent: fn, prompt: "{{ steps.w.output }}", needs: [w]}
        mock:
          writer: from local
        """,
        pm,
        module=module,
    )
    h = Harness(pm)
    run = await h.run(wf, provider="fake")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert h.one(EventType.CALL_STARTED, "w").data["provider"] == "fake"
    assert h.one(EventType.CALL_STARTED, "f").data["provider"] == "local"
    assert run.steps["w"].output == "from fake"
    assert run.steps["f"].output == "FROM FAKE"
    assert run.steps["w"].provider == "fake"
    assert run.steps["f"].provider == "local"
    started = h.one(EventType.RUN_STARTED).data
    assert started["provider_override"] == "fake"
    assert started["bindings"]["writer"]["providers"] == ["fake"]
    assert started["bindings"]["fn"]["providers"] == ["local"]
    assert [r.step for r in fake.requests] == ["w"]


async def test_arun_front_door_with_a_memory_store(tmp_path: Path) -> None:
    pm = plugins()
    path = tmp_path / "flow.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: front-door
            inputs:
              who: string
            agents: {w: {}}
            steps:
              greet: {agent: w, prompt: "hello {{ inputs.who }}"}
            outputs:
              greeting: "{{ steps.greet.output }}"
            mock:
              greet: {reply: hi there, usage: {input_tokens: 10, output_tokens: 4}}
            """
        )
    )
    store = MemoryStore()
    run = await podium.arun(path, {"who": "ann"}, store=store, plugins=pm)
    assert run.status is RunStatus.SUCCEEDED
    assert run.outputs == {"greeting": "hi there"}
    assert run.inputs == {"who": "ann"}
    assert (run.usage.input_tokens, run.usage.output_tokens) == (10, 4)
    assert run.steps["greet"].usage.input_tokens == 10
    events = store.events(run.run_id)
    assert json.loads(json.dumps([e.to_dict() for e in events]))  # every event is JSON-able
    assert fold(events, ["greet"]).model_dump() == run.model_dump()


# --- robustness -----------------------------------------------------------------------------


async def test_waiting_for_a_slot_does_not_count_against_the_timeout(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: queued
        defaults: {concurrency: 1, timeout: 0.15}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C}
          d: {agent: w, prompt: D}
          e: {agent: w, prompt: E}
        mock:
          w: {reply: ok, latency: 0.04}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert h.events(EventType.CALL_FAILED) == []


async def test_a_when_template_error_fails_the_step(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: bad-when
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B, needs: [a], when: "{{ steps.a.output.missing.deeper }}"}
        mock:
          a: {reply: {x: 1}}
          b: never
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.step == "b"
    assert "steps.b.when" in run.error.message
    assert h.events(EventType.CALL_STARTED, "b") == []


async def test_a_failing_foreach_item_fails_the_step_after_the_others_finish(
    tmp_path: Path,
) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: item-fails
        agents: {w: {}}
        steps:
          each: {agent: w, foreach: [ok1, bad, ok2], prompt: "{{ item }}"}
        mock:
          each:
            - {match: "^ok", reply: fine, latency: 0.05}
            - {match: "^bad$", error: invalid_request, reply: no}
        """,
        pm,
    )
    h = Harness(pm)
    run = await h.run(wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("each", "invalid_request")
    failed = h.one(EventType.CALL_FAILED, "each")
    assert failed.data["item"] == 1
    finished = h.events(EventType.CALL_FINISHED, "each")
    assert sorted(e.data["item"] for e in finished) == [0, 2]
    assert h.one(EventType.STEP_FAILED, "each").seq > max(e.seq for e in finished)


class _BrokenHook:
    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        raise RuntimeError("plugin bug")


class _BrokenInit(Provider):
    name: ClassVar[str] = "fake"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SDK missing")


@pytest.mark.parametrize("where", ["before_call hook", "provider constructor"])
async def test_an_unexpected_error_is_recorded_and_the_run_ends_failed(tmp_path: Path, where: str) -> None:
    """No silent failures: even an error podium did not map leaves the run `failed` in the
    store, naming the step, rather than `running` forever."""
    extra: object = _BrokenHook() if where == "before_call hook" else Registers(_BrokenInit)
    pm = plugins(extra)
    provider = "local" if where == "before_call hook" else "fake"
    wf = load(
        tmp_path,
        f"""
        name: unexpected
        defaults: {{provider: {provider}}}
        agents: {{w: {{}}}}
        steps:
          s: {{agent: w, prompt: hi}}
        mock:
          s: ok
        """,
        pm,
    )
    h = Harness(pm)
    h.run_id = "run-unexpected"
    with contextlib.suppress(Exception):  # raising is acceptable; leaving no record is not
        await h.engine.run(wf, {}, run_id="run-unexpected")
    last = h.events()[-1]
    assert last.type is EventType.RUN_FINISHED, [e.type for e in h.events()]
    assert last.data["status"] == "failed"
    assert last.data["error"]["step"] == "s"
    assert h.store.get_run("run-unexpected").status == "failed"


async def test_two_runs_on_one_engine_at_once_keep_their_own_events(tmp_path: Path) -> None:
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: twin
        inputs: {who: string}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: "hi {{ inputs.who }}"}
        mock:
          w: [{match: ann, reply: ANN, latency: 0.05}, {match: bob, reply: BOB, latency: 0.02}]
        """,
        pm,
    )
    h = Harness(pm)
    one, two = await asyncio.gather(
        h.engine.run(wf, {"who": "ann"}, run_id="run-ann"),
        h.engine.run(wf, {"who": "bob"}, run_id="run-bob"),
    )
    assert (one.outputs, two.outputs) == ({}, {})
    assert one.steps["a"].output == "ANN"
    assert two.steps["a"].output == "BOB"
    for run_id in ("run-ann", "run-bob"):
        events = h.store.events(run_id)
        assert {e.run_id for e in events} == {run_id}
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_observers_see_only_the_run_they_were_given_to(tmp_path: Path) -> None:
    """`observers=` are registered "for this run only": two runs sharing a plugin manager
    must not see each other's events."""
    pm = plugins()
    wf = load(
        tmp_path,
        """
        name: observed
        inputs: {who: string}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: "hi {{ inputs.who }}"}
        mock:
          w: {reply: ok, latency: 0.05}
        """,
        pm,
    )
    h = Harness(pm)
    ann, bob = Recorder(), Recorder()
    await asyncio.gather(
        h.engine.run(wf, {"who": "ann"}, run_id="run-ann", observers=[ann]),
        h.engine.run(wf, {"who": "bob"}, run_id="run-bob", observers=[bob]),
    )
    assert {e.run_id for e in ann.seen} == {"run-ann"}
    assert {e.run_id for e in bob.seen} == {"run-bob"}
    assert len(ann.seen) == len(h.store.events("run-ann"))
