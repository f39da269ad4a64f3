"""Budgets: a call whose worst case would pass a limit is refused before it is made; the run stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse, Message, Usage
from podium.core.events import Event, EventType
from podium.core.store import MemoryStore, SQLiteStore
from podium.cost.budget import estimate_prompt_tokens, max_output_tokens, suggest_budget
from podium.cost.catalog import load_catalog
from podium.cost.ledger import ledger_rows
from podium.testing import function_provider

from .helpers import plugins_with, replying

# gpt-4.1 is $2 in / $8 out per MTok: a call of 100 tokens in and 1,000 out costs $0.0082, and its
# worst case (a short prompt, at most 1,000 tokens out) is a little over $0.008.
CHAIN = """
name: chain
{budget}
agents:
  w: {{provider: fake, model: gpt-4.1, options: {{max_tokens: 1000}}}}
steps:
  a: {{agent: w, prompt: one}}
  b: {{agent: w, prompt: two, needs: a}}
  c: {{agent: w, prompt: three, needs: b}}
"""
CALL = Usage(input_tokens=100, output_tokens=1000)


def chain(write: Callable[..., Path], budget: str = "", name: str = "flow.yaml") -> Path:
    return write(name, CHAIN.format(budget=budget))


async def test_the_call_that_would_pass_the_budget_is_never_made(write: Callable[..., Path], caplog) -> None:
    calls: list[str] = []
    store = MemoryStore()
    pm = plugins_with(function_provider("fake", replying(CALL, calls=calls)))
    with caplog.at_level(logging.WARNING, logger="podium.cost"):
        run = await podium.arun(chain(write), plugins=pm, store=store, settings={"budget": D("0.02")})

    assert calls == ["a", "b"]  # c was refused before its call
    assert run.status == "stopped"
    assert run.error is not None and (run.error.kind, run.error.step) == ("budget", "c")
    message = run.error.message
    assert message.startswith("step c would take the run past its $0.02 budget (worst case $0.008")
    assert "spent $0.0164)" in message  # a and b, $0.0082 each
    assert "--budget" not in message  # one message, one fix
    assert run.error.fix == f"podium resume {run.run_id} --budget 0.05"
    types = [e.type for e in store.events(run.run_id) if e.step == "c"]
    assert EventType.CALL_STARTED not in types
    assert run.steps["a"].status == run.steps["b"].status == "succeeded"
    assert "budget warning: run" in caplog.text and "(82%)" in caplog.text  # past 80% after b


async def test_the_workflow_budget_applies_and_the_flag_overrides_it(write: Callable[..., Path]) -> None:
    path = chain(write, "budget: {run: 0.01}")
    pm = plugins_with(function_provider("fake", replying(CALL)))
    stopped = await podium.arun(path, plugins=pm, store=MemoryStore())
    assert stopped.status == "stopped" and stopped.error is not None
    assert stopped.error.step == "b"
    assert "budget.run in flow.yaml" in (stopped.error.fix or "")
    done = await podium.arun(path, plugins=pm, store=MemoryStore(), settings={"budget": "1.00"})
    assert done.ok


async def test_a_stopped_run_resumes_with_a_larger_budget_and_pays_once_per_call(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    calls: list[str] = []
    store = SQLiteStore(tmp_path / "runs.db")
    pm = plugins_with(function_provider("fake", replying(CALL, calls=calls)))
    path = chain(write)
    run = await podium.arun(path, plugins=pm, store=store, settings={"budget": D("0.02")})
    assert run.status == "stopped" and calls == ["a", "b"]

    resumed = await podium.aresume(run.run_id, plugins=pm, store=store, settings={"budget": D("0.05")})
    assert resumed.ok and calls == ["a", "b", "c"]  # a and b were not called again
    rows = ledger_rows(store, load_catalog(), run_id=run.run_id)
    assert [r.step for r in rows] == ["a", "b", "c"]
    assert sum(r.cost for r in rows if r.cost) == D("0.0246")
    store.close()


async def test_calls_in_flight_count_against_the_budget(write: Callable[..., Path]) -> None:
    path = write(
        "fan.yaml",
        """
        name: fan
        agents: {w: {provider: fake, model: gpt-4.1, options: {max_tokens: 1000}}}
        steps: {a: {agent: w, prompt: x}, b: {agent: w, prompt: y}, c: {agent: w, prompt: z}}
        """,
    )
    started: list[str] = []

    async def slow(request: AgentRequest) -> AgentResponse:
        started.append(request.step)
        await asyncio.sleep(0.05)
        return AgentResponse(text="ok", usage=CALL, model=request.model)

    pm = plugins_with(function_provider("fake", slow))
    run = await podium.arun(path, plugins=pm, store=MemoryStore(), settings={"budget": D("0.02")})
    # each worst case is ~$0.008: two fit in $0.02 while in flight, the third does not
    assert sorted(started) == ["a", "b"]
    assert run.status == "stopped" and run.error is not None and run.error.step == "c"
    assert "in flight" in run.error.message


@pytest.mark.parametrize("kind", ["daily", "monthly"])
async def test_a_workflow_budget_per_day_or_month_spans_runs_in_one_database(
    write: Callable[..., Path], tmp_path: Path, kind: str
) -> None:
    path = write(
        "flow.yaml",
        f"""
        name: nightly
        budget: {{{kind}: 0.015}}
        agents: {{w: {{provider: fake, model: gpt-4.1, options: {{max_tokens: 1000}}}}}}
        steps: {{a: {{agent: w, prompt: one}}}}
        """,
    )
    calls: list[str] = []
    pm = plugins_with(function_provider("fake", replying(CALL, calls=calls)))
    store = SQLiteStore(tmp_path / "runs.db")
    first = await podium.arun(path, plugins=pm, store=store)
    assert first.ok  # $0.0082 of $0.015
    second = await podium.arun(path, plugins=pm, store=store)
    assert second.status == "stopped" and calls == ["a"]
    assert second.error is not None
    period = "today" if kind == "daily" else "this month"
    assert second.error.message.startswith(
        f"step a would take workflow nightly past its {kind} budget of $0.015"
    )
    assert f"spent {period} $0.0082" in second.error.message
    assert f"budget.{kind} in flow.yaml" in (second.error.fix or "")
    # the fix as written works: the file changes, so its resume needs --allow-changed (and says so)
    assert f"podium resume {second.run_id} --allow-changed" in (second.error.fix or "")
    other = write("other.yaml", path.read_text().replace("name: nightly", "name: other"))
    assert (await podium.arun(other, plugins=pm, store=store)).ok  # another workflow's budget is its own
    path.write_text(path.read_text().replace("0.015", "0.05"))
    resumed = await podium.aresume(second.run_id, plugins=pm, store=store, allow_changed=True)
    assert resumed.ok and calls == ["a", "a", "a"]
    store.close()


async def test_an_unpriced_model_is_let_through_with_a_warning(write: Callable[..., Path], caplog) -> None:
    # a logical name that is no model class (a class would have to map to a model on `fake`)
    path = write(
        "flow.yaml", "name: t\nagents: {w: {provider: fake, model: house}}\nsteps: {a: {agent: w}}\n"
    )
    pm = plugins_with(function_provider("fake", replying(CALL)))
    with caplog.at_level(logging.WARNING, logger="podium.cost"):
        run = await podium.arun(path, plugins=pm, store=MemoryStore(), settings={"budget": D("0.01")})
    assert run.ok
    assert "no price for model 'house'" in caplog.text and "cannot limit" in caplog.text


async def test_no_budget_means_no_check_and_no_warning(write: Callable[..., Path], caplog) -> None:
    pm = plugins_with(function_provider("fake", replying(Usage(input_tokens=10**7, output_tokens=10**6))))
    with caplog.at_level(logging.WARNING, logger="podium.cost"):
        run = await podium.arun(chain(write), plugins=pm, store=MemoryStore())
    assert run.ok and "budget" not in caplog.text


def test_worst_case_inputs() -> None:
    request = AgentRequest(
        run_id="r", step="s", agent="a", attempt=1, provider="p", idempotency_key="k", session_id="s",
        instructions="x" * 40, messages=[Message(role="user", content="y" * 41)],
        options={"max_output_tokens": 256},
    )  # fmt: skip
    assert estimate_prompt_tokens(request) == 21  # 81 characters, about four a token
    assert max_output_tokens(request) == 256
    assert max_output_tokens(request.model_copy(update={"options": {}})) == 4096


@pytest.mark.parametrize(
    ("needed", "current", "suggested"),
    [("0.53", "0.50", "1.00"), ("0.0244", "0.02", "0.05"), ("3.7", "0.50", "5.00"), ("12", "10", "20.00")],
)
def test_the_suggested_budget_is_round_and_enough(needed: str, current: str, suggested: str) -> None:
    assert suggest_budget(D(needed), D(current)) == D(suggested)


class CountingStore(SQLiteStore):
    """A store that counts reads of a run's log from its start (a resume should make one)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.full_reads = 0

    def events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        if after == 0 and limit is None:
            self.full_reads += 1
        return super().events(run_id, after=after, limit=limit)


async def test_a_resume_reads_the_run_log_once_and_the_budget_still_counts_earlier_calls(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    calls: list[str] = []
    store = CountingStore(tmp_path / "runs.db")
    pm = plugins_with(function_provider("fake", replying(CALL, calls=calls)))
    path = chain(write)
    run = await podium.arun(path, plugins=pm, store=store, settings={"budget": D("0.02")})
    assert run.status == "stopped" and calls == ["a", "b"]
    store.full_reads = 0
    # the same budget admits c only if a and b ($0.0164 spent) were forgotten: they must count
    stopped = await podium.aresume(run.run_id, plugins=pm, store=store)
    assert stopped.status == "stopped" and calls == ["a", "b"]
    assert store.full_reads == 1
    store.close()
