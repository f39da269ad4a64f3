"""The events of one loop turn are written together (podium.core.dispatch, batched): one store
transaction for the steps that start or end together, every event still durable before anything
acts on it, observers seeing each event once, in seq order, and a refused batch never passing unseen."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from podium.core.calls import AgentRequest, RunContext
from podium.core.engine import Engine
from podium.core.errors import StoreError
from podium.core.events import Event, EventType, RunStatus
from podium.core.store import MemoryStore
from podium.plugins import hookimpl
from podium.testing import ProviderPlugin, function_provider

if TYPE_CHECKING:
    from conftest import Harness

BRANCHES = 12
BRANCH_IDS = [f"b{i}" for i in range(BRANCHES)]
FAN = "\n".join(
    [
        "name: fan",
        f"defaults: {{provider: fake, concurrency: {BRANCHES}}}",
        "agents: {w: {}}",
        "steps:",
        *(f"  {b}: {{agent: w, prompt: {b}}}" for b in BRANCH_IDS),
        f"  join: {{agent: w, prompt: join, needs: [{', '.join(BRANCH_IDS)}]}}",
    ]
)


class Batches(MemoryStore):
    """A memory store that keeps the seqs of each batch it was handed, and can refuse one."""

    def __init__(self, refuse: int | None = None) -> None:
        super().__init__()
        self.batches: list[list[int]] = []
        self.refuse = refuse

    def append_many(self, batch: Sequence[tuple[Event, str]]) -> None:
        if self.refuse is not None and len(self.batches) == self.refuse:
            raise StoreError("the disk is full", fix="free some space")
        super().append_many(batch)
        self.batches.append([e.seq for e, _ in batch])


def use(harness: Harness, store: MemoryStore) -> None:
    harness.store = store
    harness.engine = Engine(plugins=harness.plugins, store=store, clock=harness.clock, rng=random.Random(0))


async def test_steps_that_start_together_are_written_in_one_transaction_each_durable_before_it_is_acted_on(
    harness: Harness,
) -> None:
    store = Batches()
    use(harness, store)
    acted_on_undurable: list[str] = []

    def stored(request: AgentRequest) -> list[Event]:
        return store.events(request.run_id)

    async def agent(request: AgentRequest) -> str:
        events = stored(request)
        # the agent is called only once its step's start and its call are on record
        if not any(e.type is EventType.CALL_STARTED and e.step == request.step for e in events):
            acted_on_undurable.append(f"{request.step} called before its CallStarted was stored")
        if request.step == "join":  # and a step that needs others once their success is
            done = {e.step for e in events if e.type is EventType.STEP_SUCCEEDED}
            if done != set(BRANCH_IDS):
                acted_on_undurable.append(f"join started with only {sorted(done)} stored as succeeded")
        return request.step

    harness.register(ProviderPlugin(function_provider("fake", agent)))
    plugin, observer = harness.recorder(), harness.recorder()
    harness.register(plugin)
    run = await harness.run(FAN, observers=[observer])

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["join"].output == "join"
    assert acted_on_undurable == []
    events = harness.events()
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))
    # batches are written in seq order, each a run of consecutive seqs
    assert [s for batch in store.batches for s in batch] == seqs
    # the branches started together: their StepStarted and CallStarted went in one transaction
    starts = {
        e.seq
        for e in events
        if e.type in (EventType.STEP_STARTED, EventType.CALL_STARTED) and e.step != "join"
    }
    assert any(starts <= set(batch) for batch in store.batches), store.batches
    assert len(store.batches) < len(events) / 3
    # every observer saw every event once, in seq order, and none before it was stored
    for seen in (plugin, observer):
        assert [e.seq for e in seen.seen] == seqs
        assert seen.not_yet_stored == []


SCHEMA_STEP = """
name: repair
defaults: {provider: fake}
agents: {w: {}}
steps:
  s:
    agent: w
    prompt: give me a title
    retry: {attempts: 1}
    output:
      schema: {type: object, required: [title], properties: {title: {type: string}}}
"""


async def test_a_policy_checked_before_a_call_has_seen_every_call_that_ended_before_it(
    harness: Harness,
) -> None:
    """The repair of an invalid reply is called in the same loop turn as the failure is emitted:
    the before-call hook (a budget) must still have seen that call's end, as the cost meter does."""

    class Policy:
        def __init__(self) -> None:
            self.ended: set[tuple[str, int | None]] = set()
            self.seen_at_call: list[set[tuple[str, int | None]]] = []

        @hookimpl
        def podium_event(self, event: Event) -> None:
            if event.type in (EventType.CALL_FINISHED, EventType.CALL_FAILED):
                self.ended.add((str(event.type), event.attempt))

        @hookimpl
        def podium_before_call(self, run: RunContext, step: str, request: AgentRequest) -> None:
            self.seen_at_call.append(set(self.ended))

    policy = Policy()
    harness.register(policy)
    harness.provider('{"name": "x"}', '{"title": "x"}')
    run = await harness.run(SCHEMA_STEP)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert policy.seen_at_call == [set(), {("CallFinished", 1), ("CallFailed", 1)}]


@pytest.mark.parametrize("refused", [1, 2, 4])
async def test_a_batch_the_store_refuses_ends_the_run_with_the_store_error(
    harness: Harness, refused: int
) -> None:
    store = Batches(refuse=refused)
    use(harness, store)
    calls: list[str] = []

    async def agent(request: AgentRequest) -> str:
        calls.append(request.step)
        return "ok"

    harness.register(ProviderPlugin(function_provider("fake", agent)))
    with pytest.raises(StoreError, match="the disk is full"):
        await harness.run(FAN)
    written = [s for batch in store.batches for s in batch]
    assert written == list(range(1, len(written) + 1))  # what was written is whole, and in order
    # no agent was called on the strength of an event that was never written
    started = {e.step for e in store.events(next(iter(store._runs))) if e.type is EventType.CALL_STARTED}
    assert set(calls) <= started
