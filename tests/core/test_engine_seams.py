"""The seams another engine (Temporal's) replaces: where a call is made (`Attempts.dispatch`), when
an event happened (`Dispatcher(now=...)`), and the clock approval deadlines are read against
(`RunState.now`). Each is the only place the core touches what it stands for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podium.core.attempts import Attempts
from podium.core.calls import AgentRequest, AgentResponse, Provider
from podium.core.dispatch import Dispatcher
from podium.core.events import EventType
from podium.core.state import RunState
from podium.core.store.memory import MemoryStore

MOCKED = """
name: seams
defaults: {provider: local}
agents:
  a: {instructions: x}
steps:
  one: {agent: a, prompt: p}
mock: {one: "the provider's reply"}
"""


async def test_every_call_goes_through_dispatch(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    async def dispatch(self: Attempts, provider: Provider, request: AgentRequest) -> AgentResponse:
        seen.append((provider.name, request.idempotency_key))
        return AgentResponse(text="from the seam")

    monkeypatch.setattr(Attempts, "dispatch", dispatch)
    run = await harness.run(MOCKED)
    assert run.steps["one"].output == "from the seam"
    assert seen == [("local", f"{run.run_id}:one::1")]


def test_a_dispatcher_stamps_events_with_its_own_clock() -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    store = MemoryStore()
    event = Dispatcher(store, None, "r1", now=lambda: when).emit(EventType.RUN_WAITING, steps=[])
    assert event.at == when and store.events("r1")[0].at == when
    assert Dispatcher(MemoryStore(), None, "r2").emit(EventType.RUN_WAITING, steps=[]).at != when


APPROVAL = """
name: deadline
agents: {}
steps:
  ok: {approval: {message: go?, timeout: 1h, on_timeout: approve}}
"""


async def test_approval_deadlines_are_read_against_the_runs_clock(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's clock sets the deadline and reads it: when it says two hours have passed since the
    request, the 1 h approval is decided by its timeout at once (the system clock says no)."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    reads: list[datetime] = []
    original = RunState.__init__

    def clock() -> datetime:
        reads.append(start if not reads else start + timedelta(hours=2))
        return reads[-1]

    def with_clock(self: RunState, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)
        self.now = clock

    monkeypatch.setattr(RunState, "__init__", with_clock)
    run = await harness.run(APPROVAL)
    assert run.status == "succeeded"
    decided = harness.events(EventType.APPROVAL_DECIDED)
    assert [e.data["by"] for e in decided] == ["timeout"]
    requested = harness.events(EventType.APPROVAL_REQUESTED)[0]
    assert datetime.fromisoformat(requested.data["deadline"]) == start + timedelta(hours=1)
