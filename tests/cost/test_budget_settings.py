"""Budgets read the run's settings as a dict or as typed RunSettings; a malformed budget is bad input."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from podium.core.calls import AgentRequest, Message
from podium.core.errors import BudgetExceeded, InputError
from podium.core.spec import Workflow
from podium.core.store import MemoryStore
from podium.cost.budget import limits_for
from podium.cost.plugin import CostPlugin

WORKFLOW = Workflow.model_validate(
    {"name": "t", "agents": {"a": {"provider": "fake", "model": "gpt-4.1"}}, "steps": {"s": {"agent": "a"}}}
)


class TypedSettings(BaseModel):
    """The shape of the RunSettings hooks are to receive: typed fields, extra keys, a dict-like get."""

    model_config = ConfigDict(extra="allow")

    budget: D | None = None
    prices: list[str] = Field(default_factory=list)
    emulate: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        if value is None and self.model_extra:
            value = self.model_extra.get(key)
        return default if value is None else value


def context(settings: Any) -> SimpleNamespace:
    """What `podium_before_call` is given as `run`."""
    return SimpleNamespace(run_id="r1", workflow=WORKFLOW, store=MemoryStore(), settings=settings)


def request(max_tokens: int = 1000) -> AgentRequest:
    return AgentRequest(
        run_id="r1", step="s", agent="a", attempt=1, provider="fake", model="gpt-4.1",
        options={"max_tokens": max_tokens}, messages=[Message(role="user", content="hi")],
        idempotency_key="r1-s-1", session_id="r1-s",
    )  # fmt: skip


@pytest.mark.parametrize("settings", [{"budget": D("0.50")}, TypedSettings(budget=D("0.50"))])
def test_the_run_budget_is_read_from_a_dict_or_typed_settings(settings: Any) -> None:
    limits = limits_for(context(settings))
    assert (limits.run, limits.run_from) == (D("0.50"), "--budget")


@pytest.mark.parametrize("settings", [{}, None, TypedSettings()])
def test_no_budget_setting_means_the_workflow_decides(settings: Any) -> None:
    assert limits_for(context(settings)).run is None


def test_typed_settings_budget_and_prices_reach_the_check(tmp_path: Path) -> None:
    # $2 in / $8 out per MTok: 1,000 tokens out at most is $0.008, past a $0.001 budget
    with pytest.raises(BudgetExceeded, match=r"step s would take the run past its \$0\.001 budget"):
        CostPlugin().podium_before_call(
            run=context(TypedSettings(budget=D("0.001"))), step="s", request=request()
        )
    CostPlugin().podium_before_call(run=context(TypedSettings(budget=D("1"))), step="s", request=request())
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(BudgetExceeded, match=r"nope\.yaml does not exist"):
        CostPlugin().podium_before_call(
            run=context(TypedSettings(budget=D("1"), prices=[missing])), step="s", request=request()
        )


@pytest.mark.parametrize("budget", [D(0), D("-1"), "abc", "NaN", D("Infinity")])
@pytest.mark.parametrize("typed", [False, True])
def test_a_malformed_budget_setting_is_bad_input_with_a_fix_never_an_overspend(
    budget: Any, typed: bool
) -> None:
    settings: Any = {"budget": budget}
    if typed:  # typed settings refuse these at the edge; one built without validation still reaches cost
        settings = TypedSettings.model_construct(budget=budget, prices=[], emulate=False)
    with pytest.raises(InputError) as info:
        CostPlugin().podium_before_call(run=context(settings), step="s", request=request())
    assert not isinstance(info.value, BudgetExceeded)
    assert info.value.exit_code == 2
    assert f"--budget {budget!r} is not a budget: it must be a positive amount" in info.value.message
    assert info.value.fix == "give a positive amount, e.g. --budget 0.50"
