"""The DAG loop (podium.core.scheduler) and a step's life (podium.core.steps): graph order and
parallelism, when and skipping, foreach, failure and on_failure handlers, policy stops, cancel,
and the run that always ends with one event saying how it ended."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from podium.core.calls import AgentRequest, Provider
from podium.core.errors import BudgetExceeded
from podium.core.events import EventType, RunStatus, StepStatus
from podium.core.replay import fold
from podium.plugins import hookimpl
from podium.testing import ProviderPlugin

if TYPE_CHECKING:
    from conftest import Harness

# --- order and parallelism -----------------------------------------------------------------------


async def test_independent_steps_overlap_and_a_dependant_waits_for_both(harness: Harness) -> None:
    # a is slower than b: c must wait for the slower of its needs, not for the first to finish
    run = await harness.run(
        """
        name: par
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C, needs: [a, b]}
        mock:
          a: {reply: ra, latency: 0.3}
          b: {reply: rb, latency: 0.02}
          c: rc
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    calls = [
        (e.type.name, e.step)
        for e in harness.events()
        if e.type in (EventType.CALL_STARTED, EventType.CALL_FINISHED, EventType.STEP_STARTED)
    ]
    # a and b start together (both before either finishes); b, the faster, finishes first; only
    # when a, the slower, has finished too does c start
    assert sorted(calls[:4]) == sorted(
        [("STEP_STARTED", s) for s in "ab"] + [("CALL_STARTED", s) for s in "ab"]
    )
    assert calls[4:] == [
        ("CALL_FINISHED", "b"),
        ("CALL_FINISHED", "a"),
        ("STEP_STARTED", "c"),
        ("CALL_STARTED", "c"),
        ("CALL_FINISHED", "c"),
    ]
    succeeded = max(harness.one(EventType.STEP_SUCCEEDED, s).seq for s in "ab")
    assert harness.one(EventType.STEP_STARTED, "c").seq > succeeded
    assert [run.steps[s].output for s in "abc"] == ["ra", "rb", "rc"]


async def test_two_runs_on_one_engine_at_once_keep_their_own_events_and_observers(harness: Harness) -> None:
    """`observers=` are this run's only: two runs sharing plugins do not see each other's events."""
    wf = harness.load(
        """
        name: twin
        inputs: {who: string}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: "hi {{ inputs.who }}"}
        mock:
          w: [{match: ann, reply: ANN, latency: 0.05}, {match: bob, reply: BOB, latency: 0.02}]
        """
    )
    ann, bob = harness.recorder(), harness.recorder()
    one, two = await asyncio.gather(
        harness.engine.run(wf, {"who": "ann"}, run_id="run-ann", observers=[ann]),
        harness.engine.run(wf, {"who": "bob"}, run_id="run-bob", observers=[bob]),
    )
    assert (one.outputs, two.outputs) == ({}, {})
    assert (one.steps["a"].output, two.steps["a"].output) == ("ANN", "BOB")
    for run_id, seen in (("run-ann", ann), ("run-bob", bob)):
        events = harness.store.events(run_id)
        assert {e.run_id for e in events} == {run_id}
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [(e.run_id, e.seq) for e in seen.seen] == [(e.run_id, e.seq) for e in events]


# --- when and skipping ---------------------------------------------------------------------------


async def test_when_false_skips_and_dependants_are_skipped_visibly(harness: Harness) -> None:
    run = await harness.run(
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
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    steps = run.steps
    assert steps["x"].status is StepStatus.SKIPPED
    assert steps["x"].reason == "when: {{ inputs.go }} was false"
    assert harness.one(EventType.STEP_SKIPPED, "x").data["reason"] == steps["x"].reason
    assert steps["y"].status is StepStatus.SKIPPED
    assert steps["y"].reason == "needs 'x', which was skipped"
    assert steps["z"].status is StepStatus.SKIPPED
    assert steps["z"].reason == "needs 'y', which was skipped"
    assert steps["own"].status is StepStatus.SUCCEEDED
    assert steps["own"].output == "ran"
    assert steps["own_no"].status is StepStatus.SKIPPED
    assert [e.step for e in harness.events(EventType.CALL_STARTED)] == ["own"]
    assert run.outputs == {"x": None, "own": "ran"}


async def test_when_true_runs_the_step(harness: Harness) -> None:
    run = await harness.run(
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
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert [(run.steps[s].status, run.steps[s].output) for s in "xy"] == [(StepStatus.SUCCEEDED, "ran")] * 2
    assert harness.events(EventType.STEP_SKIPPED) == []


@pytest.mark.parametrize(
    ("inputs", "step", "message"),
    [
        pytest.param("{}", 'when: "{{ steps.a.output.missing.deeper }}"', "steps.b.when", id="when"),
        pytest.param(
            "{xs: {type: string, default: abc}}", 'foreach: "{{ inputs.xs }}"', "not a list", id="foreach"
        ),
    ],
)
async def test_a_bad_when_or_foreach_fails_the_step_before_any_call(
    harness: Harness, inputs: str, step: str, message: str
) -> None:
    run = await harness.run(
        f"""
        name: bad-template
        inputs: {inputs}
        agents: {{w: {{}}}}
        steps:
          a: {{agent: w, prompt: A}}
          b: {{agent: w, prompt: B, needs: [a], {step}}}
        mock:
          a: {{reply: {{x: 1}}}}
          b: never
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.step == "b"
    assert message in run.error.message
    assert run.steps["b"].status is StepStatus.FAILED
    assert harness.events(EventType.CALL_STARTED, "b") == []


# --- foreach -------------------------------------------------------------------------------------


async def test_foreach_gathers_results_in_item_order_whatever_the_latency(harness: Harness) -> None:
    harness.module(
        """
        def plan(prompt):
            return ["slow", "fast", "mid"]
        """
    )
    run = await harness.run(
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
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["each"].output == ["S", "F", "M"]
    assert run.steps["each"].items == 3
    started = harness.events(EventType.CALL_STARTED, "each")
    assert {e.data["item"]: e.data["prompt"] for e in started} == {0: "#0 slow", 1: "#1 fast", 2: "#2 mid"}
    finished = [e.data["item"] for e in harness.events(EventType.CALL_FINISHED, "each")]
    assert finished == [1, 2, 0]  # they did finish out of order
    # each item's output is stored once, in its own ItemSucceeded event
    items = harness.events(EventType.ITEM_SUCCEEDED, "each")
    assert {e.data["item"] for e in items} == {0, 1, 2}
    assert harness.one(EventType.STEP_SUCCEEDED, "each").data == {"items": 3}


async def test_foreach_function_agent_receives_item_and_index(harness: Harness) -> None:
    harness.module(
        """
        import asyncio

        async def shout(prompt, item, index):
            await asyncio.sleep(0.01 * (3 - index))
            return {"i": index, "item": item.upper(), "prompt": prompt}
        """
    )
    run = await harness.run(
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
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    expected = [{"i": i, "item": w.upper(), "prompt": f"say {w}"} for i, w in enumerate("abc")]
    assert run.steps["each"].output == expected
    assert run.outputs == {"all": expected}
    started = harness.events(EventType.CALL_STARTED, "each")
    assert len({e.data["idempotency_key"] for e in started}) == 3
    assert len({e.data["session_id"] for e in started}) == 3


async def test_foreach_over_an_empty_list_succeeds_with_an_empty_list(harness: Harness) -> None:
    run = await harness.run(
        """
        name: empty
        inputs:
          xs: {type: array, default: []}
        agents: {w: {}}
        steps:
          each: {agent: w, foreach: "{{ inputs.xs }}", prompt: "{{ item }}"}
        mock:
          w: never
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["each"].output == []
    assert harness.events(EventType.CALL_STARTED) == []


async def test_a_failing_foreach_item_fails_the_step_after_the_others_finish(harness: Harness) -> None:
    run = await harness.run(
        """
        name: item-fails
        agents: {w: {}}
        steps:
          each: {agent: w, foreach: [ok1, bad, ok2], prompt: "{{ item }}"}
        mock:
          each:
            - {match: "^ok", reply: fine, latency: 0.05}
            - {match: "^bad$", error: invalid_request, reply: no}
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("each", "invalid_request")
    assert harness.one(EventType.CALL_FAILED, "each").data["item"] == 1
    finished = harness.events(EventType.CALL_FINISHED, "each")
    assert sorted(e.data["item"] for e in finished) == [0, 2]
    assert harness.one(EventType.STEP_FAILED, "each").seq > max(e.seq for e in finished)


# --- failure -------------------------------------------------------------------------------------


async def test_a_failing_step_fails_the_run_and_in_flight_siblings_finish(harness: Harness) -> None:
    run = await harness.run(
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
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.step, run.error.kind, run.error.provider) == ("bad", "auth", "local")
    assert "expired token" in run.error.message
    assert run.steps["bad"].status is StepStatus.FAILED
    # the sibling was in flight when `bad` failed; it still finished and was recorded
    assert harness.one(EventType.STEP_FAILED, "bad").seq < harness.one(EventType.CALL_FINISHED, "sibling").seq
    assert (run.steps["sibling"].status, run.steps["sibling"].output) == (StepStatus.SUCCEEDED, "fine")
    # nothing downstream started after the failure
    assert run.steps["after_bad"].status is StepStatus.PENDING
    assert harness.events(step="after_bad") == []
    assert run.steps["after_sibling"].status is StepStatus.PENDING
    assert harness.events(step="after_sibling") == []
    finished = harness.one(EventType.RUN_FINISHED)
    assert finished.seq == harness.events()[-1].seq
    assert finished.data["status"] == "failed"
    assert finished.data["error"]["step"] == "bad"


async def test_a_missing_mock_reply_is_an_invalid_request_naming_the_fix(harness: Harness) -> None:
    run = await harness.run(
        """
        name: unmocked
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.kind == "invalid_request"
    assert run.error.fix is not None
    assert "mock" in run.error.fix


async def test_a_policy_refusal_stops_the_run(harness: Harness) -> None:
    class Budget:
        @hookimpl
        def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
            if step == "b":
                raise BudgetExceeded("over budget", fix="raise the budget")

    harness.register(Budget())
    run = await harness.run(
        """
        name: budget
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B, needs: [a]}
        mock:
          w: ok
        """
    )
    assert run.status is RunStatus.STOPPED
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("b", "budget")
    assert run.steps["b"].status is StepStatus.STOPPED
    assert harness.events(EventType.CALL_STARTED, "b") == []
    assert run.steps["a"].status is StepStatus.SUCCEEDED
    assert harness.store.get_run(run.run_id).status == "stopped"
    stopped = harness.one(EventType.RUN_STOPPED)  # the event says which step stopped it, and why
    assert (stopped.step, stopped.data["reason"]) == ("b", "over budget")


HANDLED = """
name: handled
agents:
  w: {}
  fn: {function: "MOD:explain"}
steps:
  bad: {agent: w, prompt: B, on_failure: fix}
  fix: {agent: fn, prompt: "{{ failure.step }}/{{ failure.kind }}", recover: RECOVER}
  after: {agent: w, prompt: "after {{ steps.bad.output }}", needs: [bad]}
outputs:
  bad: "{{ steps.bad.output }}"
mock:
  bad: {error: auth, reply: expired token}
  after: done
"""


@pytest.mark.parametrize("recover", [True, False])
async def test_an_on_failure_handler_sees_the_failure_and_with_recover_stands_in(
    harness: Harness, recover: bool
) -> None:
    harness.module(
        """
        def explain(prompt):
            return "handled " + prompt
        """
    )
    run = await harness.run(HANDLED.replace("RECOVER", str(recover).lower()))
    assert run.steps["fix"].output == "handled bad/auth"
    assert harness.one(EventType.STEP_FAILED, "bad").data["kind"] == "auth"
    if recover:
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert run.steps["bad"].status is StepStatus.SUCCEEDED
        assert run.steps["bad"].output == "handled bad/auth"
        assert harness.events(EventType.STEP_SUCCEEDED, "bad")[-1].data["recovered_by"] == "fix"
        assert run.steps["after"].output == "done"
        assert harness.one(EventType.CALL_STARTED, "after").data["prompt"] == "after handled bad/auth"
        assert run.outputs == {"bad": "handled bad/auth"}
    else:
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        assert (run.error.step, run.error.kind) == ("bad", "auth")
        assert run.steps["bad"].status is StepStatus.FAILED
        assert harness.events(step="after") == []


# --- cancel and the unexpected -------------------------------------------------------------------


async def test_cancelling_the_run_records_it_as_cancelled(harness: Harness) -> None:
    wf = harness.load(
        """
        name: cancel
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
          t: {agent: w, prompt: next, needs: [s]}
        mock:
          s: {reply: never, latency: 30}
          t: never
        """
    )
    watcher = harness.recorder(wake_on=EventType.CALL_STARTED)
    task = asyncio.create_task(harness.engine.run(wf, {}, run_id="run-cancel", observers=[watcher]))
    await asyncio.wait_for(watcher.woken.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    harness.run_id = "run-cancel"
    events = harness.events()
    assert events[-1].type is EventType.RUN_FINISHED
    assert events[-1].data["status"] == "cancelled"
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert failed.attempt == 1
    assert failed.data == {
        "provider": "local", "item": None, "kind": "cancelled", "message": "the run was cancelled",
        "retryable": True, "delay": None, "then": "cancel",
    }  # fmt: skip
    assert harness.events(EventType.CALL_FINISHED) == []
    assert harness.events(step="t") == []
    assert fold(events, wf.steps).status is RunStatus.CANCELLED
    assert harness.store.get_run("run-cancel").status == "cancelled"
    assert harness.store.lease("run-cancel").owner is None  # the lease was given back
    # the observer was registered for that run only
    assert watcher not in harness.plugins.pm.get_plugins()


class _BrokenHook:
    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        raise RuntimeError("plugin bug")


class _BrokenInit(Provider):
    name: ClassVar[str] = "fake"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SDK missing")


@pytest.mark.parametrize("where", ["before_call hook", "provider constructor"])
async def test_an_unexpected_error_is_recorded_and_the_run_ends_failed(harness: Harness, where: str) -> None:
    """No silent failures: even an error podium did not map leaves the run `failed` in the
    store, naming the step, rather than `running` forever."""
    harness.register(_BrokenHook() if where == "before_call hook" else ProviderPlugin(_BrokenInit))
    provider = "local" if where == "before_call hook" else "fake"
    wf = harness.load(
        f"""
        name: unexpected
        defaults: {{provider: {provider}}}
        agents: {{w: {{}}}}
        steps:
          s: {{agent: w, prompt: hi}}
        mock:
          s: ok
        """
    )
    harness.run_id = "run-unexpected"
    with contextlib.suppress(Exception):  # raising is acceptable; leaving no record is not
        await harness.engine.run(wf, {}, run_id="run-unexpected")
    last = harness.events()[-1]
    assert last.type is EventType.RUN_FINISHED, [e.type for e in harness.events()]
    assert last.data["status"] == "failed"
    assert last.data["error"]["step"] == "s"
    assert harness.store.get_run("run-unexpected").status == "failed"


async def test_a_python_on_failure_handler_reads_the_outputs_of_finished_steps(harness: Harness) -> None:
    harness.module(
        """
        def stand_in(prompt, steps):
            return {"from_template": prompt, "from_steps": dict(steps)}
        """
    )
    run = await harness.run(
        """
        name: python-handler
        agents:
          w: {}
          fn: {function: "MOD:stand_in"}
        steps:
          a: {agent: w, prompt: A}
          bad: {agent: w, prompt: B, needs: [a], on_failure: fix}
          fix: {agent: fn, prompt: "{{ steps.a.output }}", recover: true}
        mock:
          a: ok
          bad: {error: auth}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["fix"].output["from_template"] == "ok"  # the template can read it
    assert run.steps["fix"].output["from_steps"]["a"] == "ok"
