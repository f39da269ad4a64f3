"""Replay (podium.core.replay) at its edges: a run's result sent to another process, the steps a fold
is told of before their events, a reply the log no longer holds, and a failed step skipped later.

Each pins a change that once passed the suite (the mutants named in docs/testing.md).
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

from fold_support import ev, log

from podium.core.events import EventType, RunStatus, StepStatus
from podium.core.replay import RunFold, fold, progress, rows_of

if TYPE_CHECKING:
    from conftest import Harness

T = EventType


async def test_a_runs_result_survives_pickling_to_another_process(harness: Harness) -> None:
    """Catches `_assemble` leaving a model without `__pydantic_private__` (a misnamed attribute):
    the Run compares and prints the same, but pickle (multiprocessing, a cache) refuses it."""
    run = await harness.run(
        """
        name: sent
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: hi}
          b: {agent: w, prompt: "{{ steps.a.output }}!", needs: [a]}
        mock:
          a: one
          b: two
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    back = pickle.loads(pickle.dumps(run))
    assert back == run
    assert (back.steps["b"].output, back.steps["b"].usage, back.usage) == (
        "two",
        run.steps["b"].usage,
        run.usage,
    )


def test_the_steps_a_fold_is_told_of_are_listed_by_their_ids_before_any_event() -> None:
    fed = RunFold("r1", ["a", "b"]).feed(rows_of(log(ev(T.RUN_STARTED, workflow="wf"))))
    run = fed.run()
    assert {sid: (s.id, s.status) for sid, s in run.steps.items()} == {
        "a": ("a", StepStatus.PENDING),
        "b": ("b", StepStatus.PENDING),
    }


def test_a_reply_the_log_does_not_hold_folds_to_no_output_not_a_crash() -> None:
    """A fold of the log alone (no snapshot to read older replies back from) whose StepSucceeded
    refers to a CallFinished it never saw: the step still shows, succeeded, with no output."""
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["a"]),
        ev(T.STEP_STARTED, "a", agent="w", items=None),
        ev(T.STEP_SUCCEEDED, "a", output_ref=99, provider="p"),
    )
    run = fold(events)
    assert (run.steps["a"].status, run.steps["a"].output) == (StepStatus.SUCCEEDED, None)
    assert progress(events).views["a"] == {"output": None, "status": "succeeded"}


def test_a_failed_step_skipped_on_a_later_resume_is_no_longer_failed() -> None:
    """A step failed, then a resume of the changed workflow (`--allow-changed`, a `when` added)
    skipped it: the next resume must not restore its old failure (an escalation would then be
    about a step that no longer failed)."""
    events = log(
        ev(T.RUN_STARTED, workflow="wf", steps=["a", "b"]),
        ev(T.STEP_STARTED, "a", agent="w", items=None),
        ev(T.STEP_FAILED, "a", kind="auth", message="bad key"),
        ev(T.RUN_FINISHED, status="failed"),
        ev(T.RUN_RESUMED),
        ev(T.STEP_SKIPPED, "a", reason="when: false was false"),
        ev(T.STEP_STARTED, "b", agent="w", items=None),
        ev(T.STEP_FAILED, "b", kind="throttled", message="slow down"),
    )
    prog = progress(events)
    assert list(prog.failed) == ["b"]
    assert prog.views["a"] == {"output": None, "status": "skipped"}
    assert fold(events).steps["a"].status is StepStatus.SKIPPED
