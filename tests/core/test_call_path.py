"""The per-step call path's fast turns (podium.core.scheduler `in_place`, attempts): a chain's next
step runs in its predecessor's task, and only where the graph lets it (one step released, no other
task, no need still open); the log and the result are what they were."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podium.core.events import EventType, RunStatus

if TYPE_CHECKING:
    from conftest import Harness

AGENTS = """
import asyncio


async def who(prompt, step):
    task = id(asyncio.current_task())  # (tasks alive together have different ids)
    for _ in range(3):  # let the other tasks of the run take turns: calls that can overlap do
        await asyncio.sleep(0)
    return {"step": step, "task": task}
"""

SHAPES = """
name: shapes
agents: {w: {function: "MOD:who"}}
steps:
  s1: {agent: w, prompt: go}
  s2: {agent: w, prompt: go, needs: [s1]}
  s3: {agent: w, prompt: go, needs: [s2]}
  fork_a: {agent: w, prompt: go, needs: [s3]}
  fork_b: {agent: w, prompt: go, needs: [s3]}
  join: {agent: w, prompt: go, needs: [fork_a, fork_b]}
"""


async def test_a_chain_runs_in_one_task_a_fork_in_two_and_the_log_is_a_steps_four_events(
    harness: Harness,
) -> None:
    harness.module(AGENTS)
    run = await harness.run(SHAPES)

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert {s: r.output["step"] for s, r in run.steps.items()} == {s: s for s in run.steps}
    task = {s: r.output["task"] for s, r in run.steps.items()}
    # the chain's steps ran one after another in the task of its first
    assert task["s1"] == task["s2"] == task["s3"]
    # the two steps s3 released ran in tasks of their own, at once
    assert task["fork_a"] != task["fork_b"]
    assert harness.max_overlap() == 2
    # the join started once both its needs had succeeded
    events = harness.events()
    seq = {(e.type, e.step): e.seq for e in events}
    assert seq[EventType.STEP_STARTED, "join"] > max(
        seq[EventType.STEP_SUCCEEDED, "fork_a"], seq[EventType.STEP_SUCCEEDED, "fork_b"]
    )
    for sid in run.steps:
        assert [e.type for e in events if e.step == sid] == [
            EventType.STEP_STARTED,
            EventType.CALL_STARTED,
            EventType.CALL_FINISHED,
            EventType.STEP_SUCCEEDED,
        ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


WAITS = """
name: waits
agents: {w: {function: "MOD:who"}}
steps:
  gate: {approval: {message: go?}}
  a: {agent: w, prompt: go}
  b: {agent: w, prompt: go, needs: [a]}
  c: {agent: w, prompt: go, needs: [b, gate]}
"""


async def test_a_step_whose_other_need_waits_for_a_person_is_not_started_in_place(
    harness: Harness,
) -> None:
    harness.module(AGENTS)
    run = await harness.run(WAITS)

    assert run.status is RunStatus.WAITING, run.error
    status = {s: str(r.status) for s, r in run.steps.items()}
    assert status == {"gate": "waiting", "a": "succeeded", "b": "succeeded", "c": "pending"}
    assert [e.step for e in harness.events(EventType.CALL_STARTED)] == ["a", "b"]
    assert harness.events(step="c") == []
