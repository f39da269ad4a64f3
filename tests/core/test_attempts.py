"""The call policy (podium.core.attempts): concurrency limits, retries with backoff and retry-after,
timeouts, the fallback chain, the one repair of an invalid output, and the keys each call carries.

Backoff waits go through the harness's fake clock; the few real sleeps (reply latency) are short
and only ever order events, never a timed assertion.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest

from podium.core.calls import AgentResponse, Usage
from podium.core.errors import TransientError
from podium.core.events import EventType, RunStatus, StepStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Harness

# --- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "cap"),
    [
        pytest.param("defaults: {concurrency: 1}", 1, id="global-1"),
        pytest.param("providers: {local: {concurrency: 2}}", 2, id="local-2"),
    ],
)
async def test_a_concurrency_limit_caps_calls_in_flight_and_is_reached(
    harness: Harness, limit: str, cap: int
) -> None:
    run = await harness.run(
        f"""
        name: capped
        {limit}
        agents: {{w: {{}}}}
        steps:
          fan: {{agent: w, foreach: [1, 2, 3, 4, 5, 6], prompt: "n{{{{ item }}}}"}}
          x: {{agent: w, prompt: X}}
          y: {{agent: w, prompt: Y}}
        mock:
          w: {{reply: ok, latency: 0.02}}
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["fan"].output == ["ok"] * 6
    assert len(harness.events(EventType.CALL_STARTED)) == 8
    assert len(harness.events(EventType.CALL_FINISHED)) == 8
    assert harness.max_overlap() == cap
    if cap == 1:  # strictly one call after another
        calls_seen = [e.type for e in harness.events() if e.type.name.startswith("CALL_")]
        assert calls_seen == [EventType.CALL_STARTED, EventType.CALL_FINISHED] * 8


async def test_a_provider_limit_is_what_the_provider_sees(harness: Harness) -> None:
    fake = harness.provider("ok", latency=0.03)
    run = await harness.run(
        """
        name: capped-fake
        defaults: {provider: fake}
        providers:
          fake: {concurrency: 2}
        agents: {w: {}}
        steps:
          fan: {agent: w, foreach: [1, 2, 3, 4, 5], prompt: "n{{ item }}"}
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert len(fake.requests) == 5
    assert fake.max_in_flight == 2


async def test_a_call_waiting_for_its_provider_does_not_hold_a_global_slot(harness: Harness) -> None:
    """global concurrency 2, provider `fake` limited to 1: the local call runs alongside the first
    fake call instead of queueing behind the second, which only waits for fake's own limit."""
    harness.provider("ok", latency=0.1)
    run = await harness.run(
        """
        name: hol
        defaults: {concurrency: 2}
        providers:
          fake: {concurrency: 1}
        agents:
          remote: {provider: fake}
          near: {provider: local}
        steps:
          f1: {agent: remote, prompt: one}
          f2: {agent: remote, prompt: two}
          l: {agent: near, prompt: three}
        mock:
          near: quick
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    fake_done = [e for e in harness.events(EventType.CALL_FINISHED) if e.data["provider"] == "fake"]
    assert harness.one(EventType.CALL_STARTED, "l").seq < min(e.seq for e in fake_done)


async def test_waiting_for_a_slot_does_not_count_against_the_timeout(harness: Harness) -> None:
    # b queues behind a for a's whole 0.4 s call, longer than b's own 0.2 s timeout; b's call itself
    # answers at once, so b times out only if its time in the queue is counted
    run = await harness.run(
        """
        name: queued
        defaults: {concurrency: 1}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
          b: {agent: w, prompt: B, timeout: 0.2}
        mock:
          a: {reply: ok, latency: 0.4}
          b: ok
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert harness.events(EventType.CALL_FAILED) == []
    # b really waited: its call started only when a's had finished
    assert harness.one(EventType.CALL_STARTED, "b").seq > harness.one(EventType.CALL_FINISHED, "a").seq


# --- retries and backoff -----------------------------------------------------------------------


async def test_retries_back_off_exponentially_capped_without_jitter(harness: Harness) -> None:
    run = await harness.run(
        """
        name: backoff
        agents: {w: {}}
        steps:
          s:
            agent: w
            prompt: hi
            retry: {attempts: 5, backoff: 1, multiplier: 2, max_backoff: 5, jitter: false}
        mock:
          s: [{error: transient}, {error: transient}, {error: transient}, {error: transient}, done]
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["s"].output == "done"
    assert harness.clock.sleeps == [1, 2, 4, 5]  # 8 is capped at max_backoff
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [e.data["kind"] for e in failed] == ["transient"] * 4
    assert all(e.data["retryable"] is True for e in failed)
    assert [e.data["delay"] for e in failed] == [1, 2, 4, 5]
    assert [e.attempt for e in harness.events(EventType.CALL_STARTED, "s")] == [1, 2, 3, 4, 5]
    assert run.steps["s"].attempts == 5
    assert run.steps["s"].failed_calls == 4


async def test_jittered_backoff_stays_within_half_and_full_delay(harness: Harness) -> None:
    run = await harness.run(
        """
        name: jitter
        defaults:
          retry: {attempts: 4, backoff: 2, multiplier: 3, max_backoff: 100}
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        mock:
          s: [{error: throttled}, {error: throttled}, {error: throttled}, fine]
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert len(harness.clock.sleeps) == 3
    for n, slept in enumerate(harness.clock.sleeps):
        full = 2 * 3**n
        assert full / 2 <= slept <= full
    assert len(set(harness.clock.sleeps)) == 3  # jittered, yet still growing per retry
    # each delay is the full one scaled by a uniform draw from [0.5, 1): the harness's rng is seeded
    draws = random.Random(0)
    assert harness.clock.sleeps == [2 * 3**n * (0.5 + draws.random() / 2) for n in range(3)]


async def test_retry_after_is_honoured_even_past_max_backoff(harness: Harness) -> None:
    run = await harness.run(
        """
        name: retry-after
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi, retry: {attempts: 3, backoff: 0.5, max_backoff: 2}}
        mock:
          s: [{error: throttled, retry_after: 7}, {error: throttled, retry_after: 0.1}, ok]
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [e.data["retry_after"] for e in failed] == [7, 0.1]
    assert [e.data["kind"] for e in failed] == ["throttled", "throttled"]
    assert harness.clock.sleeps[0] == 7  # what the service asked for, though max_backoff is 2
    assert failed[0].data["delay"] == 7
    assert harness.clock.sleeps[1] >= 0.1
    assert harness.clock.sleeps == [e.data["delay"] for e in failed]


async def test_a_non_retryable_error_is_not_retried(harness: Harness) -> None:
    run = await harness.run(
        """
        name: invalid
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi, retry: {attempts: 5}}
        mock:
          s: [{error: invalid_request, reply: bad field}, never]
        """
    )
    assert run.status is RunStatus.FAILED
    assert len(harness.events(EventType.CALL_STARTED, "s")) == 1
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "invalid_request"
    assert failed.data["retryable"] is False
    assert failed.data["delay"] is None
    assert harness.clock.sleeps == []
    assert run.steps["s"].status is StepStatus.FAILED
    assert run.steps["s"].error is not None
    assert run.steps["s"].error.kind == "invalid_request"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "invalid_request")


async def test_an_unmapped_provider_exception_becomes_a_provider_error(harness: Harness) -> None:
    harness.provider(RuntimeError("socket exploded"))
    run = await harness.run(
        """
        name: unmapped
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi}
        """
    )
    assert run.status is RunStatus.FAILED
    failed = harness.one(EventType.CALL_FAILED, "s")  # a provider error is not retried
    assert failed.data["kind"] == "provider"
    assert "RuntimeError" in failed.data["message"]
    assert "socket exploded" in failed.data["message"]
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "provider")


async def test_a_raising_function_agent_fails_the_step_with_agent_error_unretried(harness: Harness) -> None:
    module = harness.module(
        """
        def boom(prompt):
            raise ValueError("the model fell over")
        """
    )
    run = await harness.run(
        """
        name: boom
        agents:
          b: {function: "MOD:boom"}
        steps:
          s: {agent: b, retry: {attempts: 3}}
        """
    )
    assert run.status is RunStatus.FAILED
    assert len(harness.events(EventType.CALL_STARTED, "s")) == 1  # not retried
    step = run.steps["s"]
    assert step.error is not None
    assert step.error.kind == "agent_error"
    assert f"{module}:boom" in step.error.message
    assert "ValueError" in step.error.message
    assert "the model fell over" in step.error.message
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "agent_error")


# --- timeouts ----------------------------------------------------------------------------------


async def test_a_slow_call_times_out_is_retried_then_the_step_fails(harness: Harness) -> None:
    fake = harness.provider("late", latency=30)
    run = await harness.run(
        """
        name: timeout
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          s:
            agent: w
            prompt: hi
            timeout: 0.05
            retry: {attempts: 2, backoff: 3, jitter: false}
        """
    )
    assert run.status is RunStatus.FAILED
    assert len(fake.requests) == 2
    assert all(r.timeout == 0.05 for r in fake.requests)
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [e.data["kind"] for e in failed] == ["timeout", "timeout"]
    assert [e.data["retryable"] for e in failed] == [True, True]
    assert [e.data["delay"] for e in failed] == [3, None]
    assert harness.clock.sleeps == [3]
    assert harness.one(EventType.STEP_FAILED, "s").data["kind"] == "timeout"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "timeout")
    assert harness.events(EventType.CALL_FINISHED) == []


# --- fallback ----------------------------------------------------------------------------------


async def test_exhausted_retries_fall_back_to_the_next_provider_without_waiting(harness: Harness) -> None:
    fake = harness.provider(TransientError("fake is down", provider="fake"))
    run = await harness.run(
        """
        name: fallback
        agents:
          w: {provider: fake}
        steps:
          s:
            agent: w
            prompt: hi
            fallback: [local]
            retry: {attempts: 2, backoff: 1, jitter: false}
        mock:
          s: from local
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    assert run.steps["s"].output == "from local"
    assert run.steps["s"].provider == "local"
    assert len(fake.requests) == 2
    started = harness.events(EventType.CALL_STARTED, "s")
    assert [e.data["provider"] for e in started] == ["fake", "fake", "local"]
    assert [e.attempt for e in started] == [1, 2, 3]
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [(e.data["provider"], e.data["kind"]) for e in failed] == [("fake", "transient")] * 2
    assert [e.data["retryable"] for e in failed] == [True, True]
    assert [e.data["delay"] for e in failed] == [1, None]  # no wait before switching provider
    assert [e.data["then"] for e in failed] == ["retry", "fallback:local"]  # what the live view shows
    assert [e.attempt for e in failed] == [1, 2]
    assert harness.clock.sleeps == [1]
    assert harness.one(EventType.STEP_SUCCEEDED, "s").data["provider"] == "local"


@pytest.mark.parametrize(
    ("defaults", "agent", "step", "chain"),
    [
        pytest.param("{}", "{provider: fake, fallback: local}", "", ["fake", "local"], id="agent"),
        pytest.param("{fallback: [local]}", "{provider: fake}", "", ["fake", "local"], id="defaults"),
        pytest.param(
            "{}", "{provider: fake, fallback: [local]}", "fallback: [],", ["fake"], id="step-over-agent"
        ),
    ],
)
async def test_the_fallback_chain_comes_from_the_step_else_the_agent_else_defaults(
    harness: Harness, defaults: str, agent: str, step: str, chain: list[str]
) -> None:
    harness.provider(TransientError("down", provider="fake"))
    run = await harness.run(
        f"""
        name: fallback-levels
        defaults: {defaults}
        agents:
          w: {agent}
        steps:
          s: {{agent: w, prompt: hi, {step} retry: {{attempts: 1}}}}
        mock:
          w: rescued
        """
    )
    assert [e.data["provider"] for e in harness.events(EventType.CALL_STARTED)] == chain
    assert harness.one(EventType.RUN_STARTED).data["bindings"]["w"]["providers"] == chain
    if chain[-1] == "local":
        assert run.status is RunStatus.SUCCEEDED
        assert run.steps["s"].output == "rescued"
    else:
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        assert (run.error.kind, run.error.provider) == ("transient", "fake")


# --- validation and the one repair --------------------------------------------------------------

SCHEMA_STEP = """
name: repair
defaults: {provider: fake}
agents: {w: {}}
steps:
  s:
    agent: w
    prompt: give me a title
    retry: {attempts: 1}  # the repair is not a retry
    output:
      schema:
        type: object
        required: [title]
        properties: {title: {type: string}}
  after: {agent: w, prompt: "use {{ steps.s.output.title }}", needs: [s]}
"""


@pytest.mark.parametrize(
    ("bad", "good", "why"),
    [
        pytest.param("Sure! Here it is: title=x", '{"title": "x"}', "not JSON", id="not-json"),
        pytest.param('{"name": "x"}', '{"title": "x"}', "title", id="schema-mismatch"),
    ],
)
async def test_an_invalid_output_is_repaired_once_with_the_validation_error(
    harness: Harness, bad: str, good: str, why: str
) -> None:
    fake = harness.provider(bad, good, "after")
    run = await harness.run(SCHEMA_STEP)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == {"title": "x"}
    assert [e.data["repair"] for e in harness.events(EventType.CALL_STARTED, "s")] == [False, True]
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "output_invalid"
    assert why in failed.data["message"]
    assert failed.data["delay"] is None
    assert (failed.attempt, failed.data["provider"], failed.data["item"]) == (1, "fake", None)
    assert (failed.data["retryable"], failed.data["then"]) == (True, "repair")
    assert harness.clock.sleeps == []  # the repair retry does not back off
    first, second = fake.requests[0], fake.requests[1]
    assert first.step == second.step == "s"
    assert len(first.messages) == 1
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content == bad
    assert failed.data["message"] in second.messages[2].content
    assert '"required": ["title"]' in second.messages[2].content  # the schema, to reply against
    assert second.prompt == "give me a title"
    assert second.output_schema is not None
    assert second.output_schema["required"] == ["title"]
    # the parsed object, not its text, reaches the dependant
    assert fake.requests[2].prompt == "use x"
    assert run.steps["s"].usage.input_tokens == 2  # both calls are paid for


async def test_twice_invalid_output_fails_the_step_and_never_reaches_dependants(harness: Harness) -> None:
    fake = harness.provider("nope", "still nope")
    run = await harness.run(SCHEMA_STEP)
    assert run.status is RunStatus.FAILED
    assert len(fake.requests) == 2  # one try and one repair, not retried further
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [(e.data["retryable"], e.data["then"]) for e in failed] == [(True, "repair"), (False, "fail")]
    assert run.steps["s"].error.provider == "fake"
    assert run.steps["s"].status is StepStatus.FAILED
    assert run.steps["s"].output is None
    assert run.steps["s"].error is not None
    assert run.steps["s"].error.kind == "output_invalid"
    assert run.error is not None
    assert (run.error.step, run.error.kind) == ("s", "output_invalid")
    assert harness.events(EventType.STEP_SUCCEEDED) == []
    assert harness.events(step="after") == []  # the dependant never started
    assert run.steps["after"].status is StepStatus.PENDING
    assert run.outputs == {}


async def test_fenced_json_replies_are_accepted_without_a_repair(harness: Harness) -> None:
    harness.provider('```json\n{"title": "fenced"}\n```', "after")
    run = await harness.run(SCHEMA_STEP)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s"].output == {"title": "fenced"}
    assert len(harness.events(EventType.CALL_STARTED, "s")) == 1
    assert harness.events(EventType.CALL_FAILED) == []


async def test_mocked_replies_are_validated_against_a_named_type(harness: Harness) -> None:
    run = await harness.run(
        """
        name: typed
        types:
          Plan: {type: object, required: [topics], properties: {topics: {type: array}}}
        agents: {w: {}}
        steps:
          plan: {agent: w, prompt: plan, output: Plan}
          count: {agent: w, prompt: n, output: integer}
        mock:
          plan: ['{"topics": "not a list"}', {reply: {topics: [a, b]}}]
          count: "42"
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["plan"].output == {"topics": ["a", "b"]}
    assert run.steps["count"].output == 42
    assert [e.data["repair"] for e in harness.events(EventType.CALL_STARTED, "plan")] == [False, True]


# --- keys ---------------------------------------------------------------------------------------


async def test_idempotency_keys_and_session_ids_are_stable_per_run_and_step(
    make_harness: Callable[[], Harness],
) -> None:
    async def once() -> tuple[list[Any], list[Any]]:
        h = make_harness()
        fake = h.provider(TransientError("blip"), "one", "two")
        run = await h.run(
            """
            name: keys
            defaults: {provider: fake}
            agents: {w: {}}
            steps:
              draft: {agent: w, prompt: hi, retry: {attempts: 2, backoff: 0}}
              review: {agent: w, prompt: again, needs: [draft]}
            """,
            run_id="run-keys",
        )
        assert run.status is RunStatus.SUCCEEDED, run.error
        return list(fake.requests), h.events(EventType.CALL_STARTED)

    requests, started = await once()
    assert [(r.step, r.attempt) for r in requests] == [("draft", 1), ("draft", 2), ("review", 1)]
    for request, event in zip(requests, started, strict=True):
        key, session = request.idempotency_key, request.session_id
        assert "run-keys" in key and request.step in key
        assert "run-keys" in session and request.step in session
        assert event.data["idempotency_key"] == key
        assert event.data["session_id"] == session
        assert request.run_id == "run-keys"
    # a retry of the same step keeps its session, under a new key
    assert requests[0].session_id == requests[1].session_id
    assert requests[0].idempotency_key != requests[1].idempotency_key
    assert requests[0].session_id != requests[2].session_id
    assert requests[0].idempotency_key != requests[2].idempotency_key
    # the same run id and step give the same keys: a re-issued call is recognisable
    again, _ = await once()
    assert [r.idempotency_key for r in again] == [r.idempotency_key for r in requests]
    assert [r.session_id for r in again] == [r.session_id for r in requests]


async def test_a_calls_events_carry_what_the_provider_said_about_it(harness: Harness) -> None:
    bound = {"kind": "model", "id": "m-9", "via": "binding"}
    harness.provider(
        AgentResponse(
            text="done", model="m-9", latency_ms=12.5, response_id="resp-1", session_id="sess-1",
            native={"stop": "end"}, bound_to=bound, usage=Usage(input_tokens=3, output_tokens=2),
        )
    )  # fmt: skip
    run = await harness.run(
        """
        name: said
        defaults: {provider: fake}
        agents: {w: {model: asked-model}}
        steps:
          s: {agent: w, prompt: hi}
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    started = harness.one(EventType.CALL_STARTED, "s")
    assert started.data["agent"] == "w" and started.data["prompt"] == "hi"
    finished = harness.one(EventType.CALL_FINISHED, "s")
    assert finished.attempt == 1
    assert {k: finished.data[k] for k in ("provider", "model", "item", "latency_ms", "response_id")} == {
        "provider": "fake", "model": "m-9", "item": None, "latency_ms": 12.5, "response_id": "resp-1",
    }  # fmt: skip
    assert (finished.data["session_id"], finished.data["native"]) == ("sess-1", {"stop": "end"})
    assert finished.data["bound_to"] == bound and run.steps["s"].bound_to == bound
    assert (finished.data["usage"]["input_tokens"], finished.data["reply"]) == (3, "done")


async def test_a_call_the_provider_says_nothing_about_is_recorded_with_what_was_asked(
    harness: Harness,
) -> None:
    harness.provider(AgentResponse(text="done"))
    run = await harness.run(
        """
        name: quiet
        defaults: {provider: fake}
        agents: {w: {model: asked-model}}
        steps:
          s: {agent: w, prompt: hi}
        """
    )
    assert run.status is RunStatus.SUCCEEDED
    finished = harness.one(EventType.CALL_FINISHED, "s")
    assert finished.data["session_id"] == f"{harness.run_id}-s"
    assert finished.data["model"] == harness.one(EventType.CALL_STARTED, "s").data["model"]
    assert finished.data["native"] is None and "bound_to" not in finished.data
    assert finished.data["latency_ms"] == 0  # the fake clock did not move
