"""The one event writer (podium.core.dispatch): every event durable before anyone sees it, in seq
order, observers that cannot break a run, and writes from other processes that go through it too."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import pytest

from podium.core.calls import AgentRequest, RunContext
from podium.core.dispatch import Dispatcher, LeaseLost, append_or_post
from podium.core.events import Event, EventType, RunStatus
from podium.core.store import MemoryStore
from podium.plugins import hookimpl
from podium.plugins.manager import load_plugins
from podium.testing import EventRecorder

if TYPE_CHECKING:
    from conftest import Harness

TWO_STEPS = """
name: durable
agents: {w: {}}
steps:
  a: {agent: w, prompt: A}
  b: {agent: w, prompt: B, needs: [a], retry: {attempts: 2, backoff: 0}}
mock:
  a: ok
  b: [{error: transient}, ok]
"""

ANOTHER_LIVE_PROCESS = f"{socket.gethostname()}:{os.getpid()}:other"  # this pid: alive


class Hook:
    """An EventHook that keeps what it sees and may act on each event (as a plugin would)."""

    def __init__(self, act: Any = None) -> None:
        self.seen: list[Event] = []
        self.act = act

    def event(self, *, event: Event) -> None:
        self.seen.append(event)
        if self.act is not None:
            self.act(event)


@pytest.mark.parametrize("via", ["plugin", "observer"])
async def test_every_event_is_stored_before_observers_see_it_in_seq_order(harness: Harness, via: str) -> None:
    recorder = harness.recorder()
    if via == "plugin":
        harness.register(recorder)
    run = await harness.run(TWO_STEPS, observers=[recorder] if via == "observer" else [])
    assert run.status is RunStatus.SUCCEEDED
    assert recorder.not_yet_stored == []
    stored = harness.events()
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert [(e.seq, e.type) for e in recorder.seen] == [(e.seq, e.type) for e in stored]
    assert recorder.seen[0].type is EventType.RUN_STARTED
    assert recorder.seen[-1].type is EventType.RUN_FINISHED


class _Broken:
    @hookimpl
    def podium_event(self, event: Event) -> None:
        raise RuntimeError("observer bug")


@pytest.mark.parametrize("via", ["plugin", "observer"])
async def test_a_raising_observer_does_not_break_the_run_nor_pass_unseen(
    harness: Harness, via: str, caplog: pytest.LogCaptureFixture
) -> None:
    after = harness.recorder()
    if via == "plugin":
        harness.register(_Broken(), after)
    with caplog.at_level(logging.WARNING, logger="podium"):
        run = await harness.run(TWO_STEPS, observers=[_Broken(), after] if via == "observer" else [])
    assert run.status is RunStatus.SUCCEEDED
    assert (run.steps["a"].output, run.steps["b"].output) == ("ok", "ok")
    assert [e.seq for e in after.seen] == [e.seq for e in harness.events()]  # the others saw everything
    assert "observer failed on RunStarted" in caplog.text


def test_a_warning_asked_for_inside_a_hook_is_written_after_the_current_event() -> None:
    store = MemoryStore()
    writer: Dispatcher

    def act(event: Event) -> None:
        if event.type is EventType.CALL_STARTED:
            writer.warn("80% of the budget", step="s", spent="0.80")

    hook = Hook(act)
    observer = Hook()
    writer = Dispatcher(store, hook, "r1", observers=[observer.event])
    writer.emit(EventType.RUN_STARTED, workflow="w")
    writer.emit(EventType.CALL_STARTED, "s", 1, provider="local")
    writer.emit(EventType.CALL_FINISHED, "s", 1, provider="local")
    expected = [
        (1, EventType.RUN_STARTED, None),
        (2, EventType.CALL_STARTED, "s"),
        (3, EventType.BUDGET_WARNING, "s"),
        (4, EventType.CALL_FINISHED, "s"),
    ]
    assert [(e.seq, e.type, e.step) for e in store.events("r1")] == expected
    assert [(e.seq, e.type, e.step) for e in hook.seen] == expected
    assert [(e.seq, e.type, e.step) for e in observer.seen] == expected
    assert store.events("r1")[2].data == {"message": "80% of the budget", "spent": "0.80"}
    writer.warn("outside a hook")  # not dispatching: written at once
    assert [e.type for e in store.events("r1", after=4)] == [EventType.BUDGET_WARNING]


async def test_a_hook_warning_through_the_run_context_lands_right_after_its_event(harness: Harness) -> None:
    """What the cost plugin does: warn from `podium_event` through the RunContext it was handed."""

    class Warns:
        context: RunContext | None = None

        @hookimpl
        def podium_before_call(self, run: RunContext, step: str, request: AgentRequest) -> None:
            self.context = run

        @hookimpl
        def podium_event(self, event: Event) -> None:
            if event.type is EventType.CALL_FINISHED and self.context is not None:
                self.context.warn("spent a lot", step=event.step, after=event.seq)

    recorder = harness.recorder()
    harness.register(Warns(), recorder)
    run = await harness.run(TWO_STEPS)
    assert run.status is RunStatus.SUCCEEDED
    events = harness.events()
    warnings = [e for e in events if e.type is EventType.BUDGET_WARNING]
    assert [(w.step, w.data["after"], w.seq) for w in warnings] == [
        (e.step, e.seq, e.seq + 1) for e in events if e.type is EventType.CALL_FINISHED
    ]
    assert [e.seq for e in recorder.seen] == list(range(1, len(events) + 1))


def test_a_writer_that_lost_its_lease_writes_nothing_more() -> None:
    store = MemoryStore()
    writer = Dispatcher(store, None, "r1")
    writer.emit(EventType.RUN_STARTED, workflow="w")
    writer.lost = True
    with pytest.raises(LeaseLost):
        writer.emit(EventType.RUN_FINISHED, status="succeeded")
    writer.warn("too late")
    assert [e.seq for e in store.events("r1")] == [1]


def _started(store: MemoryStore, run_id: str = "r1") -> None:
    Dispatcher(store, None, run_id).emit(EventType.RUN_STARTED, workflow="w")


DECISION = (EventType.APPROVAL_DECIDED, "gate", {"decision": "approved", "by": "ann"})


@pytest.mark.parametrize("lease", ["none", "expired"])
def test_append_or_post_writes_and_dispatches_when_no_live_process_drives_the_run(lease: str) -> None:
    store = MemoryStore()
    _started(store)
    if lease == "expired":  # (of another host: on this one, a live pid keeps its lease)
        store.acquire_lease("r1", "elsewhere:4242:other", ttl=-1)
    plugins = load_plugins(entry_points_too=False)
    recorder = EventRecorder()
    plugins.register(recorder)
    assert append_or_post(store, plugins, "r1", DECISION, ("decision", {"step": "gate"})) is True
    written = store.events("r1")[-1]
    assert (written.seq, written.type, written.step, written.data) == (2, *DECISION)
    assert recorder.events == [written]
    assert store.take("r1") == []
    assert store.lease("r1").owner is None  # the lease taken to write was given back


def test_append_or_post_posts_to_the_inbox_of_a_run_a_live_process_drives() -> None:
    store = MemoryStore()
    _started(store)
    store.acquire_lease("r1", ANOTHER_LIVE_PROCESS)
    plugins = load_plugins(entry_points_too=False)
    recorder = EventRecorder()
    plugins.register(recorder)
    assert append_or_post(store, plugins, "r1", DECISION, ("decision", {"step": "gate"})) is False
    assert [e.seq for e in store.events("r1")] == [1]
    assert recorder.events == []
    assert [(m.kind, m.data) for m in store.take("r1")] == [("decision", {"step": "gate"})]
    assert store.lease("r1").owner == ANOTHER_LIVE_PROCESS
