"""A call's trace context: derived from the run and its CallStarted event, handed to the provider."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from podium.core.events import EventType
from podium.core.tracecontext import call_key, span_id, trace_id, traceparent

if TYPE_CHECKING:
    from conftest import Harness

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_ids_are_stable_and_distinct_per_run_and_span() -> None:
    assert trace_id("r1") == trace_id("r1") != trace_id("r2")
    assert span_id("r1", "call:3") == span_id("r1", "call:3") != span_id("r1", "call:4")
    assert span_id("r1", "call:3") != span_id("r2", "call:3")
    value = traceparent("r1", call_key(3))
    assert TRACEPARENT.match(value)
    assert value == f"00-{trace_id('r1')}-{span_id('r1', 'call:3')}-01"


async def test_each_call_reaches_its_provider_with_the_traceparent_of_its_own_span(harness: Harness) -> None:
    fake = harness.provider(TimeoutError("read timed out"), "ok")
    run = await harness.run(
        """
        name: traced
        defaults: {provider: fake}
        agents: {w: {}}
        steps:
          s: {agent: w, prompt: hi, retry: {attempts: 2, backoff: 0}}
        """
    )
    started = harness.events(EventType.CALL_STARTED, "s")
    assert [r.traceparent for r in fake.requests] == [
        traceparent(run.run_id, call_key(e.seq)) for e in started
    ]
    assert len(set(r.traceparent for r in fake.requests)) == 2
    # a provider's own TimeoutError (a socket's) is a timeout, retried, with its words
    failed = harness.one(EventType.CALL_FAILED, "s")
    assert failed.data["kind"] == "timeout" and "read timed out" in failed.data["message"]
