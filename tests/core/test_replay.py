"""Replay (podium.core.replay) on hand-built event logs: `fold` (the Run that `show` prints) and
`progress` (what a resume schedules from) must read the same log the same way."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

import pytest
from fold_support import T0, ev, log

from podium.core.calls import Usage
from podium.core.events import EventType, RunStatus, StepStatus
from podium.core.replay import Reply, collector_held, fold, progress
from podium.core.run import StepResult

T = EventType


STARTED = ev(T.RUN_STARTED, workflow="wf", inputs={"n": 1}, steps=["a", "each", "b"], file_hash="h")
USAGE = {"input_tokens": 10, "output_tokens": 3, "cache_read_tokens": 1, "requests": 1}

OUTPUTS = log(
    STARTED,
    ev(T.STEP_STARTED, "a", agent="w", items=None),
    ev(T.CALL_STARTED, "a", 1, provider="local", item=None),
    ev(T.CALL_FINISHED, "a", 1, provider="local", item=None, reply="A!", usage=USAGE),  # seq 4
    ev(T.STEP_SUCCEEDED, "a", output_ref=4, provider="local"),
    ev(T.STEP_STARTED, "each", agent="w", items=3),
    ev(T.CALL_STARTED, "each", 1, provider="local", item=0),
    ev(T.CALL_STARTED, "each", 1, provider="local", item=1),
    ev(T.CALL_FINISHED, "each", 1, provider="local", item=1, reply="x1", usage=USAGE),  # seq 9
    ev(T.ITEM_SUCCEEDED, "each", item=1, output_ref=9),
    ev(T.CALL_FINISHED, "each", 1, provider="local", item=0, reply="x0", usage=USAGE),  # seq 11
    ev(T.ITEM_SUCCEEDED, "each", item=0, output={"parsed": 0}),
    ev(T.CALL_STARTED, "each", 1, provider="local", item=2),
    ev(T.CALL_FINISHED, "each", 1, provider="local", item=2, reply="x2"),  # seq 14, no usage
    ev(T.ITEM_SUCCEEDED, "each", item=2, output_ref=14),
    ev(T.STEP_SUCCEEDED, "each", items=3),
    ev(T.STEP_SUCCEEDED, "b", output={"inline": True}),
)


def test_stored_outputs_resolve_the_same_in_fold_and_progress() -> None:
    run, prog = fold(OUTPUTS), progress(OUTPUTS)
    expected = {"a": "A!", "each": [{"parsed": 0}, "x1", "x2"], "b": {"inline": True}}
    assert {sid: step.output for sid, step in run.steps.items()} == expected
    assert {sid: view["output"] for sid, view in prog.views.items()} == expected
    assert {sid: view["status"] for sid, view in prog.views.items()} == dict.fromkeys(expected, "succeeded")
    assert prog.items == {"each": {1: "x1", 0: {"parsed": 0}, 2: "x2"}}
    assert prog.replies == {}  # every finished call was consumed by its step
    assert prog.inflight == {}
    assert prog.attempts == {("a", None): 1, ("each", 0): 1, ("each", 1): 1, ("each", 2): 1}
    assert (prog.seq, run.last_seq) == (17, 17)
    assert prog.settled == {"a", "each", "b"}
    assert prog.started["inputs"] == {"n": 1}
    assert (run.workflow, run.inputs, run.file_hash, run.status) == ("wf", {"n": 1}, "h", RunStatus.RUNNING)
    assert run.steps["each"].items == 3
    assert run.steps["a"].provider == "local"


def test_usage_is_summed_per_step_and_per_run() -> None:
    run = fold(OUTPUTS)
    assert run.steps["a"].usage.model_dump() == {**USAGE, "cache_write_tokens": 0}
    each = run.steps["each"].usage
    assert (each.input_tokens, each.output_tokens, each.cache_read_tokens, each.requests) == (20, 6, 2, 2)
    assert run.steps["b"].usage.total_tokens == 0
    assert (run.usage.input_tokens, run.usage.output_tokens, run.usage.requests) == (30, 9, 3)
    assert run.usage.total_tokens == 42
    assert (run.steps["each"].calls, run.steps["each"].attempts) == (3, 1)


CRASHED = log(
    STARTED,
    ev(T.STEP_STARTED, "a", agent="w", items=None),
    ev(T.CALL_STARTED, "a", 1, provider="p", item=None),
    ev(T.CALL_FINISHED, "a", 1, provider="p", item=None, reply="kept"),  # seq 4: no StepSucceeded
    ev(T.STEP_STARTED, "each", agent="w", items=2),
    ev(T.CALL_STARTED, "each", 1, provider="p", item=0),
    ev(T.CALL_FINISHED, "each", 1, provider="p", item=0, reply="item 0"),  # seq 7: no ItemSucceeded
    ev(T.CALL_STARTED, "each", 1, provider="p", item=1),
    ev(T.CALL_FAILED, "each", 1, provider="p", item=1, kind="throttled", retryable=True),
    ev(T.CALL_STARTED, "each", 2, provider="p", item=1),  # in flight at the crash
    ev(T.STEP_STARTED, "b", agent="w", items=None),
    ev(T.CALL_STARTED, "b", 1, provider="p", item=None),
    ev(T.CALL_FINISHED, "b", 1, provider="p", item=None, reply="not json"),
    ev(T.CALL_FAILED, "b", 1, provider="p", item=None, kind="output_invalid"),
)


def test_progress_keeps_unconsumed_replies_and_calls_in_flight() -> None:
    prog = progress(CRASHED)
    assert prog.replies == {
        ("a", None): Reply(seq=4, attempt=1, provider="p", reply="kept"),
        ("each", 0): Reply(seq=7, attempt=1, provider="p", reply="item 0"),
    }  # and not b's: a rejected reply (output_invalid) must not be reused
    assert prog.inflight == {("each", 1): 2}
    assert prog.attempts == {("a", None): 1, ("each", 0): 1, ("each", 1): 2, ("b", None): 1}
    assert prog.views == {}
    assert prog.finished is None
    run = fold(CRASHED)
    assert [run.steps[s].status for s in ("a", "each", "b")] == [StepStatus.RUNNING] * 3
    assert (run.steps["each"].calls, run.steps["each"].failed_calls, run.steps["each"].attempts) == (3, 1, 2)


def test_a_step_settled_later_consumes_its_replies() -> None:
    events = log(
        *[(e.type, e.step, e.attempt, e.data) for e in CRASHED],
        ev(T.ITEM_SUCCEEDED, "each", item=0, output_ref=7),
        ev(T.STEP_SUCCEEDED, "a", output_ref=4),
    )
    prog = progress(events)
    assert prog.replies == {}
    assert prog.views["a"]["output"] == "kept"
    assert prog.items == {"each": {0: "item 0"}}


def test_a_foreach_step_that_succeeds_consumes_every_item_reply_and_no_other_steps() -> None:
    calls = [
        ev(T.CALL_FINISHED, sid, 1, provider="p", item=item, reply=f"{sid} {item}", usage={})
        for sid, item in (("each", 0), ("each", 1), ("each", 2), ("other", None), ("b", 0))
    ]
    events = log(
        STARTED,
        ev(T.STEP_STARTED, "each", agent="w", items=3),
        ev(T.STEP_STARTED, "other", agent="w", items=None),
        ev(T.STEP_STARTED, "b", agent="w", items=1),
        *calls,
        ev(T.STEP_SUCCEEDED, "each", items=3),
    )
    # the step's three item replies are used; the other steps' are still there for a resume
    assert sorted(progress(events).replies, key=str) == [("b", 0), ("other", None)]


def test_run_resumed_clears_how_a_run_ended() -> None:
    failure = {"step": "a", "kind": "auth", "message": "expired", "fix": None, "provider": "p"}
    ended = log(
        STARTED,
        ev(T.STEP_STARTED, "a", agent="w"),
        ev(T.STEP_FAILED, "a", **{k: v for k, v in failure.items() if k != "step"}),
        ev(T.RUN_FINISHED, status="failed", outputs={}, error=failure),
    )
    run, prog = fold(ended), progress(ended)
    assert (run.status, prog.finished) == (RunStatus.FAILED, "failed")
    assert run.error is not None and (run.error.step, run.error.kind) == ("a", "auth")
    assert run.finished_at == T0 + timedelta(seconds=4)
    assert prog.failed == {"a": {k: v for k, v in failure.items() if k != "step"}}
    assert run.steps["a"].status is StepStatus.FAILED
    resumed = log(*[(e.type, e.step, e.attempt, e.data) for e in ended], ev(T.RUN_RESUMED, owner="me"))
    run, prog = fold(resumed), progress(resumed)
    assert (run.status, prog.finished) == (RunStatus.RUNNING, None)
    assert (run.error, run.finished_at) == (None, None)
    assert run.started_at == T0 + timedelta(seconds=1)
    assert "a" in prog.failed  # still to be run again


def test_a_recovered_step_is_settled_and_no_longer_failed() -> None:
    events = log(
        STARTED,
        ev(T.STEP_FAILED, "a", kind="auth", message="m"),
        ev(T.STEP_SUCCEEDED, "a", output="stand-in", recovered_by="fix"),
    )
    prog = progress(events)
    assert prog.failed == {}
    assert prog.views["a"] == {"output": "stand-in", "status": "succeeded"}
    assert fold(events).steps["a"].error is None


@pytest.mark.parametrize(
    ("last", "status"),
    [
        (ev(T.RUN_WAITING, steps=["gate"]), RunStatus.WAITING),
        (
            ev(T.RUN_STOPPED, "a", reason="over", error={"step": "a", "kind": "budget", "message": "over"}),
            RunStatus.STOPPED,
        ),
        (ev(T.RUN_FINISHED, status="cancelled", outputs={}), RunStatus.CANCELLED),
        (ev(T.RUN_FINISHED, status="succeeded", outputs={"o": 1}), RunStatus.SUCCEEDED),
    ],
)
def test_the_run_status_is_what_its_last_run_event_says(last: tuple[Any, ...], status: RunStatus) -> None:
    run = fold(log(STARTED, last))
    assert run.status is status
    if status is RunStatus.SUCCEEDED:
        assert run.outputs == {"o": 1}
    if status is RunStatus.STOPPED:
        assert run.error is not None and run.error.kind == "budget"


def test_an_approval_shows_its_request_then_its_decision() -> None:
    request = {
        "message": "ship?",
        "fields": {"why": {"type": "string"}},
        "deadline": None,
        "on_timeout": "reject",
    }
    decision = {"decision": "approved", "by": "ann", "comment": "ok", "fields": {"why": "good"}}
    asked = log(STARTED, ev(T.STEP_STARTED, "gate", agent=None), ev(T.APPROVAL_REQUESTED, "gate", **request))
    run, prog = fold(asked), progress(asked)
    assert run.steps["gate"].status is StepStatus.WAITING
    assert run.steps["gate"].approval == {"request": request, "decision": None}
    assert (prog.requested, prog.decided) == ({"gate": request}, {})
    decided = log(
        *[(e.type, e.step, e.attempt, e.data) for e in asked], ev(T.APPROVAL_DECIDED, "gate", **decision)
    )
    run, prog = fold(decided), progress(decided)
    assert run.steps["gate"].approval == {"request": request, "decision": decision}
    assert (prog.requested, prog.decided) == ({"gate": request}, {"gate": decision})


def test_fold_lists_unstarted_steps_and_needs_an_event() -> None:
    run = fold(log(STARTED), ["a", "extra"])
    assert set(run.steps) == {"a", "each", "b", "extra"}
    assert {s.status for s in run.steps.values()} == {StepStatus.PENDING}
    with pytest.raises(ValueError, match="at least one event"):
        fold([])


def test_fold_builds_the_models_validation_would_build() -> None:
    """Steps are assembled from plain dicts without validation: they must be what validating
    their own dump gives, each with its own fields, defaults where the log said nothing."""
    run = fold(OUTPUTS, ["unstarted"])
    for sid, step in run.steps.items():
        assert step == StepResult.model_validate(step.model_dump()), sid
        assert step.model_fields_set <= set(StepResult.model_fields), sid
    assert run.usage == Usage.model_validate(run.usage.model_dump())
    unstarted = run.steps["unstarted"]
    assert (unstarted.agent, unstarted.error, unstarted.started_at, unstarted.bound_to) == (None,) * 4
    assert unstarted.usage == Usage(requests=0)
    run.steps["a"].provider = "changed"  # one step's result is not another's
    assert [s.provider for s in run.steps.values()].count("changed") == 1
    assert run.last_seq == 17
    # steps with the same counts may share one (frozen) Usage; different counts never do
    assert run.steps["a"].usage != run.steps["each"].usage


def test_the_collector_is_held_only_while_held_and_left_as_it_was_found() -> None:
    assert gc.isenabled()
    with collector_held():
        assert not gc.isenabled()
        with collector_held():  # nested: the inner hold must not turn it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_held():
        raise RuntimeError("a failed read")
    assert gc.isenabled()
    gc.disable()  # a program that runs without the collector keeps it off
    try:
        with collector_held():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
