"""A budget warning is an event in the run's log, not only a log line: `podium show` keeps it."""

from __future__ import annotations

from decimal import Decimal

import podium
from podium.core.events import EventType
from podium.core.loader import parse
from podium.core.store import MemoryStore

FLOW = """
name: warned
defaults: {retry: {attempts: 1}}
providers: {local: {models: {fast: claude-haiku-4-5}}}
agents:
  a: {model: fast, options: {max_tokens: 10}}
steps:
  s1: {agent: a, prompt: go}
  s2: {agent: a, needs: [s1], prompt: go}
  s3: {agent: a, needs: [s2], prompt: go}
  s4: {agent: a, needs: [s3], prompt: go}
  s5: {agent: a, needs: [s4], prompt: go}
  s6: {agent: a, needs: [s5], prompt: go}
mock:
  a: {reply: ok, usage: {input_tokens: 100000, output_tokens: 1}}
"""


async def test_budget_warnings_are_events_and_spend_past_the_budget_stops_the_next_call() -> None:
    wf = parse(FLOW, providers=["local"])
    store = MemoryStore()
    run = await podium.arun(wf, store=store, settings={"budget": Decimal("0.45")})
    events = store.events(run.run_id)
    warnings = [e for e in events if e.type is EventType.BUDGET_WARNING]
    # each call costs $0.10 at haiku's input price, but its worst case (a 1-token prompt estimate
    # plus max_tokens 10) is tiny: the fifth call is let through and overspends, which is why
    # spend is checked after each call too
    assert [w.data["budget"] for w in warnings] == ["run", "run"]
    assert "$0.40002 of its budget of $0.45 (89%)" in warnings[0].data["message"]
    assert "over its budget of $0.45; its next call will be refused" in warnings[1].data["message"]
    finished = {e.step: e.seq for e in events if e.type is EventType.CALL_FINISHED}
    assert finished["s4"] < warnings[0].seq < finished["s5"] < warnings[1].seq
    assert run.status == "stopped"
    assert run.steps["s6"].status == "stopped" and run.steps["s6"].calls == 0
    assert all(run.steps[f"s{i}"].status == "succeeded" for i in range(1, 6))
