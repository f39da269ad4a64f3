"""Replay (podium.core.replay) field by field: every field `show` prints of a step and a run, what a
cancel leaves of unsettled steps, what a resume is handed (replies, tool calls, approvals), a fold
started from a snapshot, and a resumed run's history read back from the store."""

from __future__ import annotations

from typing import Any

import pytest
from fold_support import at, ev, log

from podium.core.events import Event, EventType, RunStatus, StepStatus
from podium.core.replay import History, RunFold, fold, progress, rows_of
from podium.core.run import Run
from podium.core.store import MemoryStore

T = EventType


BOUND = {"kind": "model", "id": "m-2", "via": "local"}
# a step that fell back to a second provider, one rejected, one stopped, one skipped, one with
# tools, one foreach with its items' tool calls, one never started
SHOWN = log(
    ev(
        T.RUN_STARTED,
        workflow="wf",
        file="flow.yaml",
        file_hash="h1",
        inputs={"n": 1},
        steps=["a", "rej", "stop", "skip", "tools", "never"],
    ),
    ev(T.STEP_STARTED, "a", agent="w", items=None),  # 2
    ev(T.CALL_STARTED, "a", 1, provider="p1", item=None),
    ev(T.CALL_FAILED, "a", 1, provider="p1", item=None, kind="throttled", message="slow down"),
    ev(T.CALL_STARTED, "a", 2, provider="p2", item=None),  # 5
    ev(T.CALL_FINISHED, "a", 2, provider="p2", item=None, reply="A!", bound_to=BOUND),
    ev(T.STEP_SUCCEEDED, "a", output_ref=6, provider="p2"),  # 7
    ev(T.STEP_STARTED, "rej", agent=None, items=None),
    ev(T.STEP_FAILED, "rej", kind="rejected", message="no", stopped=False),  # 9
    ev(T.STEP_STARTED, "stop", agent="w", items=None),
    ev(T.STEP_FAILED, "stop", kind="policy", message="budget", stopped=True),  # 11
    ev(T.STEP_SKIPPED, "skip", reason="when was false"),  # 12
    ev(T.STEP_STARTED, "tools", agent="w", items=2),
    ev(T.CALL_STARTED, "tools", 1, provider="p1", item=1),
    ev(T.TOOL_CALLED, "tools", 1, item=1, index=0, tool="look", result="x"),
    ev(T.TOOL_CALLED, "tools", 1, item=1, index=1, tool="look", result="y"),
    ev(T.TOOL_CALLED, "tools", 1, item=0, tool="find", result="z"),  # (no index: the first)
    ev(T.BUDGET_WARNING, None, spent=1.0),  # a run's event with no step: the fold goes on past it
    ev(T.CALL_STARTED, "tools", 1, provider="p1", item=0),
    ev(T.CALL_FAILED, "tools", 1, provider="p1", item=0, kind="throttled", message="slow down"),
    ev(T.STEP_STARTED, "late", agent="w", items=None),  # a step the RunStarted did not list
    ev(T.STEP_SUCCEEDED, "old", output="x", rejected=True),  # an older log's flag
)


def test_show_reads_every_field_of_each_step_from_its_events() -> None:
    run = fold(SHOWN, ["a", "rej", "stop", "skip", "tools", "never"])
    assert (run.file, run.file_hash, run.inputs) == ("flow.yaml", "h1", {"n": 1})
    a = run.steps["a"]
    assert (a.status, a.agent, a.provider, a.output) == (StepStatus.SUCCEEDED, "w", "p2", "A!")
    assert (a.attempts, a.calls, a.failed_calls, a.tool_calls) == (2, 2, 1, 0)
    assert a.bound_to == BOUND
    assert (a.started_at, a.finished_at) == (at(2), at(7))
    rej = run.steps["rej"]
    assert rej.status is StepStatus.REJECTED and rej.finished_at == at(9)
    assert rej.error is not None and rej.error.model_dump(exclude_none=True) == {
        "step": "rej", "kind": "rejected", "message": "no",
    }  # fmt: skip
    stop = run.steps["stop"]
    assert stop.status is StepStatus.STOPPED and stop.finished_at == at(11)
    assert stop.error is not None and (stop.error.step, stop.error.kind) == ("stop", "policy")
    skip = run.steps["skip"]
    assert (skip.status, skip.reason, skip.finished_at) == (StepStatus.SKIPPED, "when was false", at(12))
    tools = run.steps["tools"]
    assert (tools.status, tools.items, tools.tool_calls, tools.calls) == (StepStatus.RUNNING, 2, 3, 2)
    assert (tools.provider, tools.failed_calls) == ("p1", 1)
    assert (run.steps["late"].id, run.steps["late"].status) == ("late", StepStatus.RUNNING)
    assert run.steps["old"].status is StepStatus.REJECTED
    never = run.steps["never"]
    assert (never.status, never.attempts, never.calls, never.tool_calls) == (StepStatus.PENDING, 0, 0, 0)
    assert never.started_at is None and never.finished_at is None


def test_a_resume_is_handed_each_tool_call_by_step_item_and_position() -> None:
    calls = progress(SHOWN).tool_calls
    assert sorted(calls) == [("tools", 0, 0), ("tools", 1, 0), ("tools", 1, 1)]
    assert calls[("tools", 1, 1)] == {"item": 1, "index": 1, "tool": "look", "result": "y"}
    assert calls[("tools", 0, 0)]["tool"] == "find"
    assert progress(SHOWN).attempts == {("a", None): 2, ("tools", 1): 1, ("tools", 0): 1}
    assert progress(SHOWN).inflight == {("tools", 1): 1}  # item 0's call failed: nothing to re-issue
    assert progress(SHOWN).views["old"] == {"output": "x", "status": "rejected", "rejected": True}
    assert progress(SHOWN).failed == {"rej": SHOWN[8].data, "stop": SHOWN[10].data}


def test_a_reply_left_unconsumed_is_handed_on_with_its_provider() -> None:
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["a"]),
        ev(T.STEP_STARTED, "a", agent="w", items=None),
        ev(T.CALL_STARTED, "a", 3, provider="p2", item=None),
        ev(T.CALL_FINISHED, "a", 3, provider="p2", item=None, reply={"x": 1}),
    )
    reply = progress(events).replies[("a", None)]
    assert (reply.seq, reply.attempt, reply.provider, reply.reply) == (4, 3, "p2", {"x": 1})


def test_a_steps_next_tool_approval_forgets_the_last_decision() -> None:
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["a"]),
        ev(T.APPROVAL_REQUESTED, "a", message="first?"),
        ev(T.APPROVAL_DECIDED, "a", approved=True, by="ann"),
        ev(T.APPROVAL_REQUESTED, "a", message="second?"),
    )
    prog = progress(events)
    assert prog.requested == {"a": {"message": "second?"}}
    assert prog.decided == {}
    assert fold(events).steps["a"].approval == {"request": {"message": "second?"}, "decision": None}


def test_a_cancel_ends_unsettled_steps_and_leaves_settled_ones() -> None:
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["done", "busy", "queued"]),
        ev(T.STEP_STARTED, "done", agent="w", items=None),
        ev(T.STEP_SUCCEEDED, "done", output="ok"),
        ev(T.STEP_STARTED, "busy", agent="w", items=None),
        ev(T.RUN_FINISHED, status="cancelled", cancelled_by="ann"),  # 5
    )
    run = fold(events, ["done", "busy", "queued", "unlisted"])
    assert run.status is RunStatus.CANCELLED
    done, busy, queued, unlisted = (run.steps[s] for s in ("done", "busy", "queued", "unlisted"))
    assert (done.status, done.finished_at) == (StepStatus.SUCCEEDED, at(3))
    assert (busy.status, busy.finished_at) == (StepStatus.CANCELLED, at(5))  # it was running then
    assert (queued.status, queued.finished_at) == (StepStatus.CANCELLED, None)  # it never started
    assert (unlisted.status, unlisted.finished_at) == (StepStatus.CANCELLED, None)


def test_an_older_logs_sparse_events_fold_to_the_defaults() -> None:
    events = log(ev(T.RUN_STARTED), ev(T.RUN_FINISHED))  # no workflow, inputs, steps, status
    run = fold(events, ["a"])
    assert (run.workflow, run.inputs, run.status) == ("?", {}, RunStatus.FAILED)
    assert run.steps["a"].status is StepStatus.PENDING  # a failed run's unstarted step is not cancelled
    assert run.model_dump()["status"] == "failed"


def test_a_fold_reads_any_iterable_of_events_and_refuses_none() -> None:
    as_list = fold(SHOWN)
    assert fold(iter(SHOWN)) == as_list
    assert fold(tuple(SHOWN)) == as_list
    with pytest.raises(ValueError, match=r"^a run needs at least one event$"):
        fold(iter([]))
    with pytest.raises(ValueError, match=r"^a run needs at least one event$"):
        RunFold("r1").run()


def test_the_fold_builds_the_run_pydantic_would_validate() -> None:
    run = fold(SHOWN, ["a", "rej", "stop", "skip", "tools", "never"])
    checked = Run.model_validate(run.model_dump())
    assert run == checked
    assert run.model_dump(exclude_unset=True)["usage"] == checked.model_dump(exclude_unset=True)["usage"]


def test_a_fold_from_a_snapshot_reads_an_older_reply_back_from_the_store() -> None:
    asked: list[int] = []

    def missing(seq: int) -> Any:
        asked.append(seq)
        return f"reply {seq}"

    fed = RunFold("r1", ["a"])
    fed.outputs.missing = missing
    fed.feed(rows_of(log(ev(T.RUN_STARTED, workflow="wf", steps=["a"]))))
    fed.feed([(40, at(40), T.STEP_SUCCEEDED, "a", None, {"output_ref": 17})])
    assert fed.run(["a"]).steps["a"].output == "reply 17"
    assert asked == [17]


def test_a_resumed_runs_history_is_its_own_events_up_to_the_resume() -> None:
    store = MemoryStore()
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=[]),
        ev(T.RUN_FINISHED, status="failed"),
        ev(T.RUN_RESUMED),
        ev(T.RUN_FINISHED, status="succeeded"),
        run_id="r7",
    )
    for event in events:
        store.append(event)
    store.append(Event("other", 1, T.RUN_STARTED, None, None, {"workflow": "wf"}, at=at(1)))
    history = History(store, "r7", upto=2)
    assert len(history) == 2
    assert list(history) == events[:2]
    assert history[1] == events[1] and list(history[0:1]) == events[:1]


def test_a_call_that_stopped_for_a_tools_approval_leaves_no_reply_to_reuse() -> None:
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["a"]),
        ev(T.CALL_STARTED, "a", 1, provider="p", item=None),
        ev(T.CALL_FINISHED, "a", 1, provider="p", item=None, reply=None, waiting={"tool": "rm"}),
    )
    prog = progress(events)
    assert prog.replies == {} and prog.inflight == {}
