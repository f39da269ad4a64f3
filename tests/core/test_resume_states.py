"""States a resume must get right, each pinned by a one-line change that used to pass the suite.

Each test names the change it catches ([tests] issue): a log written up to a crash by hand, then a
resume through the real engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from podium.core.engine import Engine
from podium.core.events import Event, EventType
from podium.core.store import MemoryStore, SQLiteStore

if TYPE_CHECKING:
    from conftest import Harness

REVIEW = """
name: review
agents: {w: {provider: fake}}
steps:
  draft: {agent: w, prompt: draft it, output: {schema: {type: object, required: [ok]}}}
"""

GATED = """
name: gated
agents: {w: {provider: fake}}
steps:
  gate: {approval: {message: go?}}
  notify: {agent: w, needs: [gate], when: "{{ steps.gate.output.decision == 'rejected' }}", prompt: told}
  publish: {agent: w, needs: [gate], prompt: publish}
"""


def append(store: MemoryStore, run_id: str, type_: EventType, step: str | None = None, **data: Any) -> None:
    store.append(Event(run_id, store.last_seq(run_id) + 1, type_, step, data.pop("attempt", None), data))


async def test_a_reply_recorded_before_a_crash_is_validated_before_it_is_used(harness: Harness) -> None:
    """Catches `value = parse_output(response, schema)` becoming `value = stored.reply`: a recorded
    reply that breaks the step's schema is never passed on; the step asks again."""
    script = harness.provider('{"ok": true}')
    wf = harness.load(REVIEW)
    store, run_id = harness.store, "crashed-after-a-bad-reply"
    append(store, run_id, EventType.RUN_STARTED, workflow="review", inputs={}, steps=["draft"], settings={})
    append(store, run_id, EventType.STEP_STARTED, "draft", agent="w", items=None)
    append(store, run_id, EventType.CALL_STARTED, "draft", attempt=1, provider="fake", item=None)
    append(store, run_id, EventType.CALL_FINISHED, "draft", attempt=1, provider="fake", item=None,
           reply="not json at all", usage={})  # fmt: skip

    run = await harness.engine.resume(run_id, wf)

    assert run.status == "succeeded"
    assert run.steps["draft"].output == {"ok": True}
    assert len(script.requests) == 1  # called again: the recorded reply did not pass


async def test_an_approval_step_is_started_before_it_asks(harness: Harness) -> None:
    """Catches the deletion of the approval step's StepStarted: a waiting step has started."""
    harness.provider("ok")
    run = await harness.run(GATED)
    assert run.status == "waiting"
    types = [e.type for e in harness.events(step="gate")]
    assert types[:2] == [EventType.STEP_STARTED, EventType.APPROVAL_REQUESTED]
    assert run.steps["gate"].started_at is not None


async def test_a_handled_rejection_recorded_before_a_crash_still_skips_the_plain_dependant(
    harness: Harness,
) -> None:
    """Catches the resume forgetting that a settled approval was rejected: after the crash, the step
    that reads the decision runs, and the plain dependant is skipped, not run."""
    script = harness.provider("done")
    wf = harness.load(GATED)
    first = await harness.run(wf)
    assert first.status == "waiting"
    store, run_id = harness.store, first.run_id
    decision = {"decision": "rejected", "by": "bob", "comment": "no", "fields": {}}
    append(store, run_id, EventType.APPROVAL_DECIDED, "gate", **decision)
    output = {"decision": "rejected", "approved": False, "by": "bob", "comment": "no"}
    append(store, run_id, EventType.STEP_REJECTED, "gate", output=output)  # ... and the process died

    run = await harness.engine.resume(run_id, wf)

    assert run.status == "succeeded"
    assert run.steps["gate"].status == "rejected"
    assert run.steps["publish"].status == "skipped"
    assert run.steps["publish"].reason == "needs 'gate', which was rejected"
    assert run.steps["notify"].status == "succeeded"
    assert [r.step for r in script.requests] == ["notify"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_resumed_run_is_listed_as_running_while_it_runs(
    harness: Harness, tmp_path: Path, kind: str
) -> None:
    """Catches the runs index keeping a resumed run's old status (failed) while it runs again."""
    if kind == "sqlite":
        harness.store = SQLiteStore(tmp_path / "runs.db")  # type: ignore[assignment]
        harness.engine = Engine(plugins=harness.plugins, store=harness.store, clock=harness.clock)
    harness.provider(RuntimeError("down"), "fine")
    failed = await harness.run("name: r\nagents: {w: {provider: fake}}\nsteps: {s: {agent: w, prompt: hi}}\n")
    assert harness.store.get_run(failed.run_id).status == "failed"
    seen: list[str] = []

    class Watch:
        def podium_event(self, event: Event) -> None:
            if event.type is EventType.RUN_RESUMED:
                seen.append(harness.store.get_run(event.run_id).status)

    wf = harness.load("name: r\nagents: {w: {provider: fake}}\nsteps: {s: {agent: w, prompt: hi}}\n")
    run = await harness.engine.resume(failed.run_id, wf, observers=[Watch()])
    assert seen == ["running"]
    assert run.status == "succeeded" and harness.store.get_run(failed.run_id).status == "succeeded"
