"""The call policy across providers and across a stop: a three-provider fallback chain whose first
two fail in different ways, a provider that cannot be made, and a foreach step cancelled mid-way.

Each asserts what a user reads afterwards (the events `show --events` prints, the step's error and
fix, the cost rows, what a resume calls again), never how the engine gets there.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from podium.core.calls import AgentRequest, AgentResponse, Provider, Usage
from podium.core.errors import (
    AuthError,
    ExtraMissing,
    PolicyError,
    Throttled,
    ToolApprovalNeeded,
    TransientError,
)
from podium.core.events import Event, EventType, RunStatus, StepStatus
from podium.cost.summary import rows_for_run
from podium.plugins import hookimpl
from podium.testing import ProviderPlugin, function_provider

if TYPE_CHECKING:
    from conftest import Harness


# --- a chain of three ---------------------------------------------------------------------------

CHAIN = """
name: chain
agents:
  w: {provider: busy, fallback: [locked, local]}
steps:
  s:
    agent: w
    prompt: hi
    retry: {attempts: 2, backoff: 1, max_backoff: 1, jitter: false}
mock:
  s: from local
"""


async def test_a_three_provider_chain_tries_each_in_turn_and_every_attempt_is_on_record(
    harness: Harness,
) -> None:
    """busy is throttled (retried, after the wait it asked for, then left), locked refuses the
    credentials (not retried: no wait, straight on), local answers. Attempts are numbered across
    the chain, so each has its own idempotency key; the session is the step's."""
    busy = harness.provider(Throttled("slow down", retry_after=3, provider="busy"), name="busy")
    locked = harness.provider(AuthError("bad key", fix="rotate it", provider="locked"), name="locked")
    run = await harness.run(CHAIN, run_id="run-chain")

    assert run.status is RunStatus.SUCCEEDED, run.error
    step = run.steps["s"]
    assert (step.output, step.provider) == ("from local", "local")
    assert (len(busy.requests), len(locked.requests)) == (2, 1)
    started = harness.events(EventType.CALL_STARTED, "s")
    assert [(e.data["provider"], e.attempt) for e in started] == [
        ("busy", 1), ("busy", 2), ("locked", 3), ("local", 4),
    ]  # fmt: skip
    keys = [e.data["idempotency_key"] for e in started]
    assert keys == [f"run-chain:s::{n}" for n in (1, 2, 3, 4)]
    assert [r.idempotency_key for r in (*busy.requests, *locked.requests)] == keys[:3]
    assert {e.data["session_id"] for e in started} == {"run-chain-s"}

    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [
        (e.attempt, e.data["provider"], e.data["kind"], e.data["retryable"], e.data["delay"], e.data["then"])
        for e in failed
    ] == [
        (1, "busy", "throttled", True, 3, "retry"),  # retry-after 3 beats the 1 s backoff cap
        (2, "busy", "throttled", True, None, "fallback:locked"),  # no wait before switching
        (3, "locked", "auth", False, None, "fallback:local"),
    ]  # fmt: skip
    assert [e.data["retry_after"] for e in failed] == [3, 3, None]
    assert [e.data["message"] for e in failed] == ["slow down", "slow down", "bad key"]
    assert not any("traceback" in e.data for e in failed)  # only a python agent's or tool's failure has one
    assert harness.clock.sleeps == [3]
    assert (step.attempts, step.failed_calls) == (4, 3)
    assert harness.one(EventType.STEP_SUCCEEDED, "s").data["provider"] == "local"

    # the cost: the one call that answered is the one billed, as the fourth attempt (a retry);
    # the three that failed reported no usage and have no row
    rows = rows_for_run("run-chain", harness.store)
    assert rows is not None
    assert [(r.provider, r.attempt, r.retry, r.step) for r in rows] == [("local", 4, True, "s")]


async def test_the_last_provider_of_a_chain_failing_fails_the_step_with_its_own_error(
    harness: Harness,
) -> None:
    harness.provider(Throttled("slow down", provider="busy"), name="busy")
    harness.provider(AuthError("bad key", fix="rotate it", provider="locked"), name="locked")
    run = await harness.run(CHAIN.replace("[locked, local]", "[locked]"))

    assert run.status is RunStatus.FAILED
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [(e.data["provider"], e.data["then"]) for e in failed] == [
        ("busy", "retry"), ("busy", "fallback:locked"), ("locked", "fail"),
    ]  # fmt: skip
    error = run.steps["s"].error
    assert error is not None
    assert (error.kind, error.provider, error.message, error.fix) == (
        "auth",
        "locked",
        "bad key",
        "rotate it",
    )
    assert run.error is not None
    assert (run.error.step, run.error.kind, run.error.provider) == ("s", "auth", "locked")


# --- a provider that cannot be made -------------------------------------------------------------


class _NoSDK(Provider):
    """Refuses at construction the way a provider does when its SDK is not installed."""

    name: ClassVar[str] = "vault"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ExtraMissing("vault needs its SDK", fix="pip install podium[vault]")

    async def invoke(self, request: AgentRequest) -> Any:  # pragma: no cover - never made
        raise AssertionError("a provider that was never made was called")


class _Crashes(Provider):
    """A plugin's bug: its constructor raises something podium did not map."""

    name: ClassVar[str] = "vault"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise KeyError("region")

    async def invoke(self, request: AgentRequest) -> Any:  # pragma: no cover - never made
        raise AssertionError("a provider that was never made was called")


@pytest.mark.parametrize(
    ("cls", "message", "fix"),
    [
        pytest.param(_NoSDK, "vault needs its SDK", "pip install podium[vault]", id="refuses"),
        pytest.param(
            _Crashes,
            "provider 'vault' could not be made: KeyError: 'region'",
            "providers.vault",
            id="crashes",
        ),
    ],
)
async def test_a_provider_that_cannot_be_made_is_said_and_the_chain_goes_on(
    harness: Harness, cls: type[Provider], message: str, fix: str
) -> None:
    harness.register(ProviderPlugin(cls))
    run = await harness.run(
        """
        name: unmade
        agents: {w: {provider: vault, fallback: [local]}}
        steps:
          s: {agent: w, prompt: hi}
          t: {agent: w, prompt: again, needs: [s]}
        mock:
          w: from local
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert (run.steps["s"].output, run.steps["t"].output) == ("from local", "from local")
    assert run.steps["s"].provider == "local"
    for sid in ("s", "t"):
        failed = harness.one(EventType.CALL_FAILED, sid)
        assert failed.attempt is None  # no call was made, so no attempt is used up
        assert {k: failed.data[k] for k in ("provider", "item", "kind", "retryable", "delay", "then")} == {
            "provider": "vault", "item": None, "kind": "provider", "retryable": False, "delay": None,
            "then": "fallback:local",
        }  # fmt: skip
        assert message in failed.data["message"]
        assert fix in failed.data["fix"]
        assert [(e.data["provider"], e.attempt) for e in harness.events(EventType.CALL_STARTED, sid)] == [
            ("local", 1)
        ]


async def test_a_provider_that_cannot_be_made_fails_the_step_naming_it_and_the_run_resumes(
    harness: Harness,
) -> None:
    broken = ProviderPlugin(_Crashes)
    harness.register(broken)
    wf = """
        name: unmade
        agents: {w: {provider: vault}}
        steps:
          first: {agent: w, prompt: hi}
        """
    run = await harness.run(wf)
    assert run.status is RunStatus.FAILED
    failed = harness.one(EventType.CALL_FAILED, "first")
    assert (failed.data["provider"], failed.data["then"], failed.data["retryable"]) == (
        "vault",
        "fail",
        False,
    )
    error = run.steps["first"].error
    assert error is not None
    assert (error.kind, error.provider) == ("provider", "vault")
    assert error.message == "provider 'vault' could not be made: KeyError: 'region'"
    assert error.fix == (
        "check providers.vault in the workflow and the plugin that registers 'vault'"
        " (`podium providers` lists them), or give the step a fallback"
    )
    assert run.error is not None
    assert (run.error.step, run.error.provider) == ("first", "vault")
    assert "internal error" not in error.message  # a provider's fault, not podium's
    assert harness.events(EventType.CALL_STARTED) == []

    # the plugin is fixed: the run resumes and the failed step runs, on the same run
    harness.plugins.pm.unregister(broken)
    fixed = harness.provider("made now", name="vault")
    resumed = await harness.engine.resume(run.run_id, harness.load(wf))
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.steps["first"].output == "made now"
    assert resumed.steps["first"].error is None
    assert [r.idempotency_key for r in fixed.requests] == [f"{run.run_id}:first::1"]


# --- a foreach step cancelled mid-way -----------------------------------------------------------


async def test_a_cancelled_foreach_leaves_no_item_running_and_a_resume_runs_only_the_unfinished(
    harness: Harness,
) -> None:
    """Items 0 and 1 answer at once; 2 and 3 hang until the run is cancelled. Nothing is left
    open, the finished items are kept, and a resume calls 2 and 3 only."""
    hanging: set[int] = set()
    all_hang = asyncio.Event()
    release = asyncio.Event()
    asked: list[AgentRequest] = []

    async def answer(request: AgentRequest) -> str:
        asked.append(request)
        if request.item is not None and request.item >= 2 and not release.is_set():
            hanging.add(request.item)
            if hanging == {2, 3}:
                all_hang.set()
            await asyncio.sleep(30)  # cancelled long before
        return f"done {request.prompt}"

    harness.register(ProviderPlugin(function_provider("fake", answer)))
    text = """
        name: fan
        agents: {w: {provider: fake}}
        steps:
          fan: {agent: w, foreach: [a, b, c, d], prompt: "{{ item }}"}
          after: {agent: w, prompt: "{{ steps.fan.output | join(',') }}", needs: [fan]}
        """
    wf = harness.load(text)
    task = asyncio.create_task(harness.engine.run(wf, {}, run_id="run-fan"))
    await asyncio.wait_for(all_hang.wait(), timeout=10)

    def items_done() -> list[int]:
        return sorted(
            e.data["item"] for e in harness.store.events("run-fan") if e.type is EventType.ITEM_SUCCEEDED
        )

    async def two_done() -> None:
        while items_done() != [0, 1]:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(two_done(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    harness.run_id = "run-fan"

    assert harness.events()[-1].data["status"] == "cancelled"
    # no call is left open: each item's CallStarted is closed, the hanging ones as cancelled
    closed = {
        e.data["item"]: e.data.get("kind", "finished")
        for e in harness.events()
        if e.type in (EventType.CALL_FINISHED, EventType.CALL_FAILED)
    }
    assert sorted(e.data["item"] for e in harness.events(EventType.CALL_STARTED)) == [0, 1, 2, 3]
    assert closed == {0: "finished", 1: "finished", 2: "cancelled", 3: "cancelled"}
    for e in harness.events(EventType.CALL_FAILED, "fan"):
        assert (e.data["then"], e.data["provider"]) == ("cancel", "fake")
    assert harness.events(step="after") == []
    assert harness.store.get_run("run-fan").status == "cancelled"

    release.set()
    asked.clear()
    resumed = await harness.engine.resume("run-fan", wf)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.steps["fan"].output == ["done a", "done b", "done c", "done d"]
    assert resumed.steps["fan"].status is StepStatus.SUCCEEDED
    assert sorted((r.step, r.item) for r in asked) == [("after", None), ("fan", 2), ("fan", 3)]
    assert resumed.steps["after"].output == "done done a,done b,done c,done d"
    assert items_done() == [0, 1, 2, 3]


# --- across a crash: a reply on record, a call in flight ----------------------------------------


def _append(harness: Harness, run_id: str, type_: EventType, step: str | None = None, **data: Any) -> int:
    store = harness.store
    seq = store.last_seq(run_id) + 1
    store.append(Event(run_id, seq, type_, step, data.pop("attempt", None), data))
    return seq


def _crashed(harness: Harness, run_id: str, steps: list[str]) -> None:
    _append(harness, run_id, EventType.RUN_STARTED, workflow="crash", inputs={}, steps=steps, settings={})


@pytest.mark.parametrize(
    ("schema", "reply", "output", "by_ref"),
    [
        pytest.param("", "the answer", "the answer", True, id="text"),
        pytest.param(", output: {schema: {type: object}}", '{"n": 1}', {"n": 1}, False, id="json-text"),
        pytest.param(", output: {schema: {type: object}}", {"n": 2}, {"n": 2}, True, id="structured"),
        pytest.param(
            ", output: {schema: {$ref: order.json}}", '{"n": 3}', {"n": 3}, False, id="a-file-schema"
        ),
    ],
)
async def test_a_reply_recorded_before_a_crash_is_used_and_not_paid_for_again(
    harness: Harness, schema: str, reply: Any, output: Any, by_ref: bool
) -> None:
    script = harness.provider("called again", name="other")
    (harness.tmp_path / "order.json").write_text('{"type": "object", "required": ["n"]}', encoding="utf-8")
    wf = harness.load(
        f"name: crash\nagents: {{w: {{provider: other}}}}\nsteps:\n  s: {{agent: w, prompt: hi{schema}}}\n"
    )
    run_id = "crashed-after-a-reply"
    _crashed(harness, run_id, ["s"])
    _append(harness, run_id, EventType.STEP_STARTED, "s", agent="w", items=None)
    _append(harness, run_id, EventType.CALL_STARTED, "s", attempt=1, provider="fake", item=None)
    finished = _append(
        harness,
        run_id,
        EventType.CALL_FINISHED,
        "s",
        attempt=1,
        provider="fake",
        item=None,
        reply=reply,
        usage={"input_tokens": 5, "requests": 1},
    )  # fmt: skip ... and the process died before StepSucceeded

    run = await harness.engine.resume(run_id, wf)

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert script.requests == []  # not called again
    step = run.steps["s"]
    assert (step.output, step.provider) == (output, "fake")  # the provider that gave the reply
    assert step.usage.input_tokens == 5  # billed once, as recorded
    harness.run_id = run_id
    succeeded = harness.one(EventType.STEP_SUCCEEDED, "s").data
    assert succeeded["provider"] == "fake"  # what `show --events` and the trace name
    if by_ref:  # the reply is the output: it is stored once, in its CallFinished
        assert succeeded.get("output_ref") == finished and "output" not in succeeded
    else:
        assert succeeded.get("output") == output and "output_ref" not in succeeded
    assert harness.events(EventType.CALL_STARTED, "s")[-1].seq < finished


async def test_a_recorded_reply_of_a_foreach_item_is_used_for_that_item_only(harness: Harness) -> None:
    script = harness.provider("fresh")
    wf = harness.load(
        "name: crash\nagents: {w: {provider: fake}}\n"
        "steps:\n  fan: {agent: w, foreach: [a, b], prompt: '{{ item }}'}\n"
    )
    run_id = "crashed-mid-foreach"
    _crashed(harness, run_id, ["fan"])
    _append(harness, run_id, EventType.STEP_STARTED, "fan", agent="w", items=2)
    _append(harness, run_id, EventType.CALL_STARTED, "fan", attempt=1, provider="fake", item=1)
    _append(harness, run_id, EventType.CALL_FINISHED, "fan", attempt=1, provider="fake", item=1, reply="kept")

    run = await harness.engine.resume(run_id, wf)

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["fan"].output == ["fresh", "kept"]
    assert [(r.item, r.prompt, r.attempt) for r in script.requests] == [(0, "a", 1)]


async def test_a_call_in_flight_at_a_crash_is_reissued_under_its_key_and_later_ones_follow(
    harness: Harness,
) -> None:
    """Attempt 2 had started when the process died: the resume sends attempt 2 again (the same
    idempotency key, so the provider can recognise it), and a retry after it is attempt 3."""
    script = harness.provider(Throttled("again"), "done")
    wf = harness.load(
        "name: crash\nagents: {w: {provider: fake}}\n"
        "steps:\n  s: {agent: w, prompt: hi, retry: {attempts: 3, backoff: 0, jitter: false}}\n"
    )
    run_id = "crashed-mid-call"
    _crashed(harness, run_id, ["s"])
    _append(harness, run_id, EventType.STEP_STARTED, "s", agent="w", items=None)
    _append(harness, run_id, EventType.CALL_STARTED, "s", attempt=1, provider="fake", item=None)
    _append(
        harness, run_id, EventType.CALL_FAILED, "s", attempt=1, provider="fake", item=None, kind="transient"
    )
    _append(harness, run_id, EventType.CALL_STARTED, "s", attempt=2, provider="fake", item=None)

    run = await harness.engine.resume(run_id, wf)

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert [r.attempt for r in script.requests] == [2, 3]
    assert [r.idempotency_key for r in script.requests] == [f"{run_id}:s::2", f"{run_id}:s::3"]
    assert run.steps["s"].output == "done"


# --- a prompt or instructions that cannot be rendered --------------------------------------------


@pytest.mark.parametrize(
    ("agent", "prompt", "where"),
    [
        pytest.param("{}", "'{{ item.missing.deeper }}'", "steps.fan.prompt (item 1)", id="prompt"),
        pytest.param(
            "{instructions: '{{ inputs.topic.deeper.still }}'}",
            "'{{ item }}'",
            "agents.w.instructions",
            id="instructions",
        ),
    ],
)
async def test_a_template_that_fails_for_one_item_fails_the_step_naming_where(
    harness: Harness, agent: str, prompt: str, where: str
) -> None:
    script = harness.provider("ok")
    run = await harness.run(
        f"""
        name: render
        inputs: {{topic: {{type: string, default: plain}}}}
        agents: {{w: {agent}}}
        defaults: {{provider: fake}}
        steps:
          fan: {{agent: w, foreach: [{{missing: {{deeper: 1}}}}, 2], prompt: {prompt}}}
        """
    )
    assert run.status is RunStatus.FAILED
    error = run.steps["fan"].error
    assert error is not None
    assert where in error.message
    assert error.provider is None  # no provider was called for it
    assert harness.events(EventType.CALL_FAILED) == []
    assert all(r.item == 0 for r in script.requests)  # the item that rendered may have been called


# --- a cancellation, and a CancelledError that is not one -----------------------------------------


class _CancelTheRunAsACallStarts:
    """Cancels the run (as Ctrl-C does) from inside a call's start, before its CallStarted is on
    record: the cancel lands while the call is being written, not while the provider works."""

    def __init__(self) -> None:
        self.run: asyncio.Task[Any] | None = None

    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        if step == "a" and self.run is not None:
            self.run.cancel()


async def test_a_cancel_as_calls_start_closes_each_of_them_as_cancelled(harness: Harness) -> None:
    canceller = _CancelTheRunAsACallStarts()
    harness.register(canceller)
    wf = harness.load(
        """
        name: cancel-at-start
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C, needs: [a, b]}
        mock:
          w: {reply: never, latency: 30}
        """
    )
    canceller.run = asyncio.create_task(harness.engine.run(wf, {}, run_id="run-cancel-start"))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(canceller.run, timeout=20)
    harness.run_id = "run-cancel-start"
    assert harness.events()[-1].data["status"] == "cancelled"
    started = {e.step for e in harness.events(EventType.CALL_STARTED)}
    assert started == {"a", "b"}
    failed = harness.events(EventType.CALL_FAILED)
    assert sorted((e.step, e.attempt, e.data["kind"], e.data["then"]) for e in failed) == [
        ("a", 1, "cancelled", "cancel"), ("b", 1, "cancelled", "cancel"),
    ]  # fmt: skip
    assert harness.events(EventType.CALL_FINISHED) == []
    assert harness.events(step="c") == []


async def test_a_cancelled_error_from_an_agent_fails_its_step_and_the_run_does_not_succeed(
    harness: Harness,
) -> None:
    """A python agent (or an SDK inside a provider) that lets a CancelledError out, while nobody
    cancelled the run: the call fails, naming the provider; it used to leave its step running
    for ever and the run `succeeded` without the steps after it."""
    harness.module(
        """
        import asyncio

        async def flaky(prompt):
            if prompt == "b":
                raise asyncio.CancelledError()
            return prompt.upper()
        """
    )
    run = await harness.run(
        """
        name: escaped
        agents: {w: {function: "MOD:flaky"}}
        steps:
          fan: {agent: w, foreach: [a, b, c], prompt: "{{ item }}"}
          one: {agent: w, prompt: b}
          after: {agent: w, prompt: x, needs: [fan]}
        """
    )
    assert run.status is RunStatus.FAILED
    for sid in ("fan", "one"):
        step = run.steps[sid]
        assert step.status is StepStatus.FAILED
        assert step.error is not None
        assert (step.error.kind, step.error.provider) == ("provider", "local")
        assert step.error.message == "local raised CancelledError, but the run was not cancelled"
        assert step.error.fix == "check the agent's or the provider's code: it let a cancellation escape"
    assert run.steps["after"].status is StepStatus.PENDING
    assert harness.events(step="after") == []
    assert {e.data["kind"] for e in harness.events(EventType.CALL_FAILED)} == {"provider"}  # not "cancelled"


class _CancelsItsOwnStep:
    """A hook that cancels the task it runs in (the step's), as a buggy plugin might."""

    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        if step == "a":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()


async def test_a_step_task_cancelled_by_a_hook_fails_the_step_and_the_run(harness: Harness) -> None:
    """A step's task cancelled by none of podium's own cancels is a failure: the run does not
    succeed with the step left running and its dependants never started."""
    harness.register(_CancelsItsOwnStep())
    run = await harness.run(
        """
        name: cancelled-inside
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B}
          c: {agent: w, prompt: C, needs: [a]}
        mock:
          w: {reply: ok}
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.steps["a"].status is StepStatus.FAILED
    error = run.steps["a"].error
    assert error is not None and "was cancelled, but the run was not" in error.message
    assert run.steps["b"].status is StepStatus.SUCCEEDED
    assert run.steps["c"].status is StepStatus.PENDING
    assert [e.type for e in harness.events(step="a")][-1] == EventType.STEP_FAILED
    assert harness.events()[-1].data["status"] == "failed"


# --- a foreach item's tool calls ------------------------------------------------------------------


async def test_a_foreach_items_tool_call_is_recorded_under_its_item_attempt_and_key(harness: Harness) -> None:
    """What a resume finds a finished tool call again by (and `show --events` prints): the item,
    the attempt and the idempotency key of the call that asked for it. The tool runs on a worker
    thread; its record is written on the run's loop."""
    harness.module(
        """
        RAN = []

        def lookup(order_id: str) -> dict:
            RAN.append(order_id)
            return {"order_id": order_id, "status": "delivered"}
        """
    )
    run = await harness.run(
        """
        name: fan-tools
        agents:
          w: {tools: {lookup: "MOD:lookup"}}
        steps:
          fan:
            agent: w
            foreach: [A-1]
            prompt: "{{ item }}"
            retry: {attempts: 2, backoff: 0}
        mock:
          fan:
            - {error: transient}
            - tool: {name: lookup, input: {order_id: A-1}}
            - reply: looked up
        """,
        run_id="run-tools",
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["fan"].output == ["looked up"]
    called = harness.one(EventType.TOOL_CALLED, "fan")
    second = harness.events(EventType.CALL_STARTED, "fan")[-1]
    assert (called.attempt, called.data["item"], called.data["index"]) == (2, 0, 0)
    assert called.data["idempotency_key"] == second.data["idempotency_key"] == "run-tools:fan:0:2"
    assert called.data["name"] == "lookup"
    assert called.data["result"] == {"order_id": "A-1", "status": "delivered"}
    assert run.steps["fan"].tool_calls == 1


# --- what a timeout says ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "reply", "message"),
    [
        pytest.param("timeout: 0.05,", "late", "fake did not answer within 0.05s", id="the-steps"),
        pytest.param(
            "", TimeoutError("read timed out"), "fake did not answer: read timed out", id="the-providers"
        ),
    ],
)
async def test_a_timeout_says_whose_it_was_and_what_to_do(
    harness: Harness, timeout: str, reply: Any, message: str
) -> None:
    """The step's own timeout, or a provider's (a socket's) it did not map: either is a retryable
    `timeout` naming the provider, with a fix."""
    harness.provider(reply, latency=30 if timeout else 0)
    run = await harness.run(
        f"""
        name: timed
        defaults: {{provider: fake}}
        agents: {{w: {{}}}}
        steps:
          s: {{agent: w, prompt: hi, {timeout} retry: {{attempts: 1}}}}
        """
    )
    assert run.status is RunStatus.FAILED
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert (failed.data["kind"], failed.data["retryable"], failed.data["message"]) == (
        "timeout",
        True,
        message,
    )
    error = run.steps["s"].error
    assert error is not None
    assert (error.kind, error.provider, error.message) == ("timeout", "fake", message)
    assert error.fix == "raise the step's timeout:, or check the provider"


# --- a call that stops to wait for a person ---------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "metered", "foreach"),
    [
        pytest.param(None, {"input_tokens": 0, "requests": 0}, False, id="said-nothing-of-usage"),
        pytest.param(
            Usage(input_tokens=7, requests=2),
            {"input_tokens": 7, "requests": 2},
            True,
            id="an-item-with-usage",
        ),
    ],
)
async def test_a_call_that_stops_for_a_tools_approval_is_metered_and_the_step_waits(
    harness: Harness, usage: Usage | None, metered: dict[str, int], foreach: bool
) -> None:
    """A provider (a third party's too) stops a call to ask a person about a tool: the call ends,
    marked waiting, with what it used (nothing, if it says nothing), and the step waits."""
    item = 0 if foreach else None
    tool = {"name": "refund", "arguments": {"order": "A1"}, "item": item, "index": 0}

    def ask(request: AgentRequest) -> str:
        harness.clock.now += 0.25  # the call takes 250 ms on the run's clock
        raise ToolApprovalNeeded("refund needs a person's approval", request=tool, usage=usage)

    harness.clock.now = 10.0

    harness.register(ProviderPlugin(function_provider("fake", ask)))
    each = "foreach: [A1], " if foreach else ""
    run = await harness.run(
        f"name: gated\nagents: {{w: {{provider: fake, model: m1}}}}\n"
        f"steps: {{s: {{agent: w, {each}prompt: hi}}}}\n"
    )

    assert run.status is RunStatus.WAITING
    step = run.steps["s"]
    assert step.status is StepStatus.WAITING
    assert (step.calls, step.failed_calls) == (1, 0)
    finished = harness.one(EventType.CALL_FINISHED, "s")
    assert (finished.attempt, finished.data["waiting"], finished.data["reply"]) == (1, tool, None)
    session = f"{run.run_id}-s" + ("-0" if foreach else "")
    fields = ("provider", "model", "item", "session_id", "latency_ms", "native")
    assert {k: finished.data[k] for k in fields} == {
        "provider": "fake",
        "model": "m1",
        "item": item,
        "session_id": session,
        "latency_ms": 250,
        "native": None,
    }
    assert {k: finished.data["usage"][k] for k in metered} == metered
    assert (step.usage.input_tokens, step.usage.requests) == (metered["input_tokens"], metered["requests"])
    asked = harness.one(EventType.APPROVAL_REQUESTED, "s").data
    assert (asked["tool"], asked["message"]) == (tool, "refund needs a person's approval")
    assert harness.events(EventType.CALL_FAILED) == []


async def test_a_calls_latency_is_measured_on_the_runs_clock_when_the_provider_does_not_say(
    harness: Harness,
) -> None:
    def slow(request: AgentRequest) -> str:
        harness.clock.now += 1.5
        return "done"

    harness.register(ProviderPlugin(function_provider("fake", slow)))
    harness.clock.now = 100.0
    run = await harness.run(
        "name: timed\nagents: {w: {provider: fake}}\nsteps: {s: {agent: w, prompt: hi}}\n"
    )
    assert run.status is RunStatus.SUCCEEDED
    assert harness.one(EventType.CALL_FINISHED, "s").data["latency_ms"] == 1500


# --- what the agent is sent: its instructions, rendered; a render bounded by the step's timeout ---------

SLOW = "{% for i in range(3000) %}{% for j in range(3000) %}{% endfor %}{% endfor %}done"


async def test_an_agents_instructions_are_rendered_with_the_inputs_and_none_is_sent_as_none(
    harness: Harness,
) -> None:
    fake = harness.provider("ok")
    run = await harness.run(
        """
        name: told
        inputs: {topic: {type: string, default: tea}}
        defaults: {provider: fake}
        agents:
          expert: {instructions: "You answer about {{ inputs.topic }}."}
          plain: {}
        steps:
          a: {agent: expert, prompt: "{{ inputs.topic }}?"}
          b: {agent: plain, prompt: again, needs: [a]}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert [(r.step, r.instructions, r.prompt) for r in fake.requests] == [
        ("a", "You answer about tea.", "tea?"),
        ("b", None, "again"),
    ]


@pytest.mark.parametrize(
    ("agent", "prompt", "where"),
    [
        pytest.param("{}", SLOW, "steps.s.prompt", id="prompt"),
        pytest.param("{instructions: '" + SLOW + "'}", "hi", "agents.w.instructions", id="instructions"),
    ],
)
async def test_a_render_is_bounded_by_the_steps_timeout_and_says_so(
    harness: Harness, agent: str, prompt: str, where: str
) -> None:
    """The step's timeout (shorter than the 1 s render budget) bounds its prompt's and its agent's
    instructions' render: the message names the field and the timeout, and nothing is called."""
    fake = harness.provider("never")
    run = await harness.run(
        f"""
        name: slow-render
        defaults: {{provider: fake}}
        agents: {{w: {agent}}}
        steps:
          s: {{agent: w, prompt: "{prompt}", timeout: 0.05}}
        """
    )
    assert run.status is RunStatus.FAILED
    error = run.steps["s"].error
    assert error is not None
    assert (error.kind, error.message) == ("error", f"{where}: rendering took longer than 0.05s")
    assert fake.requests == []


async def test_a_prompt_that_renders_to_a_value_reaches_a_python_agent_as_the_value_and_a_provider_as_json(
    harness: Harness,
) -> None:
    harness.module(
        """
        def echo(prompt):
            return {"got": prompt}
        """
    )
    fake = harness.provider("ok")
    run = await harness.run(
        """
        name: valued
        inputs: {order: {type: object, default: {id: A1, qty: 2}}}
        agents:
          fn: {function: "MOD:echo"}
          remote: {provider: fake}
        steps:
          py: {agent: fn, prompt: "{{ inputs.order }}"}
          cloud: {agent: remote, prompt: "{{ inputs.order }}"}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["py"].output == {"got": {"id": "A1", "qty": 2}}
    assert [r.prompt for r in fake.requests] == ['{"id": "A1", "qty": 2}']


# --- what a provider is sent, and how a step's output is stored -----------------------------------


async def test_a_provider_is_sent_the_agents_binding_options_tools_and_limits(harness: Harness) -> None:
    harness.module(
        """
        def refund(order: str) -> str:
            return order

        def lookup(order: str) -> str:
            return order
        """
    )
    fake = harness.provider("ok")
    run = await harness.run(
        """
        name: sent
        defaults: {max_tool_rounds: 3}
        agents:
          w:
            provider: fake
            options: {temperature: 0.2}
            fake: {agent_id: A1}
            tools:
              lookup: "MOD:lookup"
              refund: {function: "MOD:refund", approval: true}
        steps:
          a: {agent: w, prompt: one}
          b: {agent: w, prompt: two, max_tool_rounds: 7, needs: [a]}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    first, second = fake.requests
    assert (first.agent, first.binding, first.options) == ("w", {"agent_id": "A1"}, {"temperature": 0.2})
    assert sorted(first.tools) == ["lookup", "refund"] and set(first.approval_tools) == {"refund"}
    assert (first.max_tool_rounds, second.max_tool_rounds) == (3, 7)


@pytest.mark.parametrize(
    ("schema", "reply", "output", "by_ref"),
    [
        pytest.param("", "plain words", "plain words", True, id="text"),
        pytest.param(", output: {schema: {type: object}}", '{"n": 1}', {"n": 1}, False, id="parsed-json"),
        pytest.param(", output: string", "  spaced  ", "  spaced  ", True, id="a-string-schema"),
        pytest.param(", output: string", '"quoted"', "quoted", False, id="a-json-string"),
        pytest.param(
            ", output: {schema: {$ref: order.json}}", '{"n": 4}', {"n": 4}, False, id="a-file-schema"
        ),
    ],
)
async def test_a_steps_output_is_stored_once_by_reference_when_it_is_the_reply_text(
    harness: Harness, schema: str, reply: str, output: Any, by_ref: bool
) -> None:
    harness.provider(reply)
    (harness.tmp_path / "order.json").write_text('{"type": "object", "required": ["n"]}', encoding="utf-8")
    run = await harness.run(
        f"name: stored\nagents: {{w: {{provider: fake}}}}\nsteps:\n  s: {{agent: w, prompt: hi{schema}}}\n"
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == output
    succeeded = harness.one(EventType.STEP_SUCCEEDED, "s").data
    finished = harness.one(EventType.CALL_FINISHED, "s")
    if by_ref:
        assert succeeded.get("output_ref") == finished.seq and "output" not in succeeded
    else:
        assert succeeded.get("output") == output and "output_ref" not in succeeded


# --- the rest of a call's record ------------------------------------------------------------------


async def test_a_foreach_items_failed_calls_name_the_item(harness: Harness) -> None:
    """The item is on every CallFailed of an item: a provider that cannot be made, a reply refused
    by the schema (then repaired)."""
    harness.register(ProviderPlugin(_Crashes))
    harness.provider("not json", '{"ok": true}')
    run = await harness.run(
        """
        name: items
        agents: {w: {provider: vault, fallback: [fake]}}
        steps:
          fan: {agent: w, foreach: [x], prompt: "{{ item }}", output: {schema: {type: object}}}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    failed = harness.events(EventType.CALL_FAILED, "fan")
    assert [(e.data["provider"], e.data["kind"], e.data["item"]) for e in failed] == [
        ("vault", "provider", 0), ("fake", "output_invalid", 0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "sent_back"),
    [
        pytest.param(AgentResponse(output={"name": "x"}), '{"name": "x"}', id="structured"),
        pytest.param(AgentResponse(text=""), "", id="empty"),
        pytest.param(
            AgentResponse(output={"at": datetime(2026, 12, 1, tzinfo=UTC)}),
            '{"at": "2026-12-01T00:00:00+00:00"}',
            id="not-plain-json",
        ),
    ],
)
async def test_the_repair_sends_back_what_the_agent_replied(
    harness: Harness, bad: AgentResponse, sent_back: str
) -> None:
    fake = harness.provider(bad, '{"title": "t"}')
    run = await harness.run(
        "name: repaired\nagents: {w: {provider: fake}}\n"
        "steps:\n  s: {agent: w, prompt: hi, output: {schema: {type: object, required: [title]}}}\n"
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert [(m.role, m.content) for m in fake.requests[1].messages][:2] == [
        ("user", "hi"),
        ("assistant", sent_back),
    ]


async def test_the_repair_is_not_a_retry_but_it_is_only_one(harness: Harness) -> None:
    """attempts: 2 with a repair in between: invalid (repaired), transient (retried), transient
    (the second and last attempt): three calls, then the step fails."""
    fake = harness.provider("nope", TransientError("blip"), TransientError("blip"), '{"title": "t"}')
    run = await harness.run(
        "name: counted\nagents: {w: {provider: fake}}\n"
        "steps:\n  s: {agent: w, prompt: hi, retry: {attempts: 2, backoff: 0, jitter: false},"
        " output: {schema: {type: object}}}\n"
    )
    assert run.status is RunStatus.FAILED
    assert len(fake.requests) == 3
    assert [e.data["then"] for e in harness.events(EventType.CALL_FAILED, "s")] == ["repair", "retry", "fail"]


class _Refuse:
    @hookimpl
    def podium_before_call(self, run: Any, step: str, request: AgentRequest) -> None:
        raise PolicyError("over the budget", fix="raise the budget")


async def test_a_policy_refusal_before_a_call_stops_the_step_naming_the_provider(harness: Harness) -> None:
    fake = harness.provider("never")
    harness.register(_Refuse())
    run = await harness.run(
        "name: refused\nagents: {w: {provider: fake}}\nsteps: {s: {agent: w, prompt: hi}}\n"
    )
    assert fake.requests == []
    error = run.steps["s"].error
    assert error is not None
    assert (run.steps["s"].status, error.kind, error.provider) == (StepStatus.STOPPED, "policy", "fake")


async def test_a_python_agents_traceback_is_on_its_failed_call(harness: Harness) -> None:
    harness.module(
        """
        def boom(prompt):
            raise ValueError("the model fell over")
        """
    )
    run = await harness.run('name: tb\nagents: {b: {function: "MOD:boom"}}\nsteps: {s: {agent: b}}\n')
    assert run.status is RunStatus.FAILED
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert 'raise ValueError("the model fell over")' in failed.data["traceback"]


async def test_a_plain_steps_prompt_error_names_the_field(harness: Harness) -> None:
    run = await harness.run(
        "name: bad\ninputs: {x: {type: string, default: a}}\nagents: {w: {}}\n"
        'steps: {s: {agent: w, prompt: "{{ inputs.x.y.z }}"}}\n'
    )
    error = run.steps["s"].error
    assert error is not None and error.message.startswith("steps.s.prompt: ")


class _Closes(Provider):
    name: ClassVar[str] = "closing"
    seen: ClassVar[list[Any]] = []

    def __init__(self, config: Any, env: Any) -> None:
        super().__init__(config, env)
        _Closes.seen.append(env)

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        return AgentResponse(text="ok")

    async def aclose(self) -> None:
        raise OSError("socket already gone")


async def test_a_provider_is_made_with_the_runs_settings_and_a_failed_close_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    _Closes.seen.clear()
    harness.register(ProviderPlugin(_Closes))
    run = await harness.run(
        "name: closed\ndefaults: {concurrency: 3}\nagents: {w: {provider: closing}}\n"
        "steps: {s: {agent: w, prompt: hi}}\n"
    )
    assert run.status is RunStatus.SUCCEEDED  # a provider that fails to close does not fail the run
    (env,) = _Closes.seen
    assert (env.workflow, env.concurrency) == ("closed", 3)
    (record,) = [r for r in caplog.records if "closing provider" in r.getMessage()]
    assert record.getMessage() == "closing provider closing failed" and record.levelname == "WARNING"
    assert record.exc_info is not None and "socket already gone" in str(record.exc_info[1])


async def test_a_long_foreach_keeps_a_bounded_number_of_items_under_way(harness: Harness) -> None:
    """2,000 items hold a few dozen tasks at once, not one each (which took ~9 KB an item and a
    loop turn of seconds to start); the run's call slots are still all used, and the output keeps
    the items' order."""
    from podium.core.steps import ITEM_WORKERS

    under_way: list[int] = []

    async def answer(request: AgentRequest) -> str:
        under_way.append(sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("podium-step-fan[")))
        await asyncio.sleep(0.001)
        return f"done {request.item}"

    harness.register(ProviderPlugin(function_provider("fake", answer)))
    run = await harness.run(
        """
        name: wide
        agents: {w: {provider: fake}}
        steps:
          fan: {agent: w, foreach: "{{ range(2000) | list }}", prompt: "{{ item }}"}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["fan"].output == [f"done {i}" for i in range(2000)]
    assert max(under_way) <= ITEM_WORKERS
    assert harness.max_overlap() == 16  # defaults.concurrency: the bound costs no call slot
