"""The scheduler's dealings with the world outside one process: a cancel or a decision sent to
the live process driving a run (as `podium cancel` and `podium approve` do to `run --wait`), an
escalation decided while no process drove the run, and a bug that must still end the run.

In process, so that `make mutate` maps these tests to the scheduler (its per-mutant test choice
cannot see into the subprocesses of tests/durable)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

import podium
from podium.core.errors import InvalidRequest
from podium.core.events import EventType, RunStatus, StepStatus
from podium.core.scheduler import Scheduler

if TYPE_CHECKING:
    from conftest import Harness

GATED = """
name: gated
agents: {w: {}}
steps:
  gate: {approval: {message: go?}}
  publish: {agent: w, needs: [gate], prompt: "publish {{ steps.gate.output.decision }}"}
mock: {publish: out}
"""

SLOW = """
name: slow
agents: {w: {}}
steps:
  s: {agent: w, prompt: hi}
  t: {agent: w, prompt: next, needs: [s]}
outputs: {got: "{{ steps.s.output }}"}
mock:
  s: {reply: never, latency: 30}
  t: never
"""


async def started(harness: Harness, text: str, wake_on: EventType, **kw: object) -> asyncio.Task:
    """Start a run in the background and return once it has emitted `wake_on`."""
    harness.engine.heartbeat = 0.02  # the process looks at its inbox this often
    wf = harness.load(text)
    watcher = harness.recorder(wake_on=wake_on)
    task = asyncio.create_task(harness.engine.run(wf, {}, run_id="live", observers=[watcher], **kw))
    await asyncio.wait_for(watcher.woken.wait(), timeout=60)
    harness.run_id = "live"
    return task


async def test_a_cancel_sent_to_the_driving_process_ends_the_run_cancelled_by_whom(harness: Harness) -> None:
    task = await started(harness, SLOW, EventType.CALL_STARTED)
    assert podium.cancel("live", by="frank", store=harness.store) == "requested"
    run = await asyncio.wait_for(task, timeout=60)
    assert run.status is RunStatus.CANCELLED
    finished = harness.one(EventType.RUN_FINISHED)
    assert finished.data == {"status": "cancelled", "outputs": {}, "cancelled_by": "frank"}
    assert harness.events()[-1] == finished
    assert run.outputs == {}
    assert harness.store.get_run("live").status == "cancelled"
    assert harness.events(EventType.CALL_FINISHED) == [] and harness.events(step="t") == []


async def test_a_waiting_process_applies_a_decision_sent_to_it_and_carries_on(harness: Harness) -> None:
    task = await started(harness, GATED, EventType.RUN_WAITING, wait=True)
    owner = harness.store.lease("live").owner
    assert owner is not None
    await asyncio.sleep(0.1)  # a few heartbeats with no decision: it keeps waiting
    assert not task.done()
    assert podium.decide("live", "gate", "approved", by="ann", store=harness.store) == "sent"
    run = await asyncio.wait_for(task, timeout=60)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["publish"].output == "out"
    resumed = harness.one(EventType.RUN_RESUMED)
    # the same process went on, with the same file
    assert resumed.data == {"owner": owner, "file_hash": run_file_hash(harness), "changed": False}
    order = [e.type for e in harness.events()]
    assert order.index(EventType.RUN_WAITING) < order.index(EventType.APPROVAL_DECIDED)
    assert order.index(EventType.RUN_RESUMED) < order.index(
        EventType.STEP_STARTED, order.index(EventType.RUN_RESUMED)
    )


async def test_a_cancel_sent_to_a_waiting_process_ends_it_without_resuming(harness: Harness) -> None:
    task = await started(harness, GATED, EventType.RUN_WAITING, wait=True)
    assert podium.cancel("live", by="gus", store=harness.store) == "requested"
    run = await asyncio.wait_for(task, timeout=60)
    assert run.status is RunStatus.CANCELLED
    assert harness.events(EventType.RUN_RESUMED) == []
    assert harness.one(EventType.RUN_FINISHED).data["cancelled_by"] == "gus"
    assert run.steps["publish"].status is not StepStatus.SUCCEEDED


def run_file_hash(harness: Harness) -> str:
    return harness.one(EventType.RUN_STARTED).data["file_hash"]


ESCALATED = """
name: escalated
agents: {w: {provider: fake}}
steps:
  bad: {agent: w, prompt: B, on_failure: ask}
  ask: {approval: {message: "{{ failure.step }} failed: go on?"}}
"""


async def test_a_rejected_escalation_decided_between_processes_fails_with_the_original_failure(
    harness: Harness,
) -> None:
    harness.provider(InvalidRequest("no such model: m9", fix="pick a model the service has"))
    wf = harness.load(ESCALATED)
    first = await harness.run(wf)
    assert first.status is RunStatus.WAITING
    failed = harness.one(EventType.STEP_FAILED, "bad").data
    # decided while no process drives the run; the resume restores the failure it was about
    assert podium.decide(first.run_id, "ask", "rejected", by="ann", store=harness.store) == "recorded"
    run = await harness.engine.resume(first.run_id, wf)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("bad", "invalid_request")
    assert (run.error.message, run.error.fix) == (failed["message"], failed["fix"])
    assert (failed["message"], failed["fix"]) == ("no such model: m9", "pick a model the service has")


async def test_a_bug_in_the_scheduler_still_ends_the_run_failed_and_says_what(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no run may be left "running" by an engine bug: the run's last event says it failed, and why
    def broken(self: Scheduler, sid: str, task: object) -> None:
        raise RuntimeError(f"scheduler bug at {sid}")

    monkeypatch.setattr(Scheduler, "settled", broken)
    wf = harness.load("name: b\nagents: {w: {}}\nsteps: {s: {agent: w, prompt: hi}}\nmock: {s: ok}\n")
    with pytest.raises(RuntimeError, match="scheduler bug at s"):
        await harness.engine.run(wf, {}, run_id="buggy")
    harness.run_id = "buggy"
    last = harness.events()[-1]
    assert last.type is EventType.RUN_FINISHED
    assert last.data == {
        "status": "failed",
        "outputs": {},
        "error": {"step": None, "kind": "internal", "message": "RuntimeError: scheduler bug at s"},
    }
    assert harness.store.get_run("buggy").status == "failed"
