"""A workflow made ready to run (podium.core.plan): each step's provider chain, each provider
resolved once per run (to its class and settings, or to the error a step meets and falls back past),
the bindings RunStarted records, and the `--provider` override."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from podium.core.calls import AgentRequest, ProviderConfig
from podium.core.errors import UnknownProvider
from podium.core.events import EventType, RunStatus
from podium.core.plan import Plan
from podium.core.spec import Workflow
from podium.testing import ProviderPlugin, function_provider

if TYPE_CHECKING:
    from conftest import Harness


class StrictConfig(ProviderConfig):
    region: str


def strict_provider() -> ProviderPlugin:
    cls = function_provider("strict", lambda request: "from strict")
    cls.Config = StrictConfig
    return ProviderPlugin(cls)


def workflow(primary: str, fallback: list[str], **extra: Any) -> Workflow:
    """Built directly, not loaded: the loader would refuse an unknown provider before any run."""
    return Workflow.model_validate(
        {
            "name": "plan",
            "agents": {"w": {"provider": primary}},
            "steps": {"s": {"agent": "w", "prompt": "hi", "fallback": fallback}},
            "mock": {"s": "from local"},
            **extra,
        }
    )


UNRESOLVED = [
    pytest.param("ghost", {}, "no provider named 'ghost' is installed", id="not-installed"),
    pytest.param(
        "strict",
        {"providers": {"strict": {"regin": "eu"}}},
        "providers.strict: region: Field required; regin: Extra inputs are not permitted",
        id="bad-settings",
    ),
]


@pytest.mark.parametrize(("name", "extra", "message"), UNRESOLVED)
def test_a_provider_that_cannot_run_is_resolved_to_its_error(
    harness: Harness, name: str, extra: dict[str, Any], message: str
) -> None:
    harness.register(strict_provider())
    plan = Plan(workflow(name, ["local"], **extra), harness.plugins.providers)
    assert plan.chains == {"s": [name, "local"]}
    assert sorted(plan.providers) == sorted([name, "local"])
    broken, local = plan.provider(name), plan.provider("local")
    assert broken.error is not None
    assert message in broken.error.message
    assert broken.error.fix
    assert broken.config is None
    assert local.error is None and local.cls is not None and local.config is not None
    assert "not in this run's plan" in str(plan.provider("elsewhere").error)


@pytest.mark.parametrize(("name", "extra", "message"), UNRESOLVED)
async def test_a_step_falls_back_past_a_provider_that_cannot_run(
    harness: Harness, name: str, extra: dict[str, Any], message: str
) -> None:
    harness.register(strict_provider())
    run = await harness.run(workflow(name, ["local"], **extra))
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert (run.steps["s"].output, run.steps["s"].provider) == ("from local", "local")
    assert [e.data["provider"] for e in harness.events(EventType.CALL_STARTED)] == ["local"]
    assert harness.one(EventType.RUN_STARTED).data["bindings"]["w"]["providers"] == [name, "local"]


@pytest.mark.parametrize(("name", "extra", "message"), UNRESOLVED)
async def test_a_step_with_no_fallback_records_why_its_provider_cannot_run(
    harness: Harness, name: str, extra: dict[str, Any], message: str
) -> None:
    harness.register(strict_provider())
    run = await harness.run(workflow(name, [], **extra))
    assert run.status is RunStatus.FAILED
    failed = harness.one(EventType.STEP_FAILED, "s")
    assert (failed.data["kind"], failed.data["provider"]) == ("provider", name)
    assert message in failed.data["message"]
    assert failed.data["fix"]
    assert run.error is not None
    assert (run.error.step, run.error.provider) == ("s", name)
    assert harness.events(EventType.CALL_STARTED) == []


async def test_falling_back_past_a_provider_that_cannot_run_leaves_a_trace(harness: Harness) -> None:
    run = await harness.run(workflow("ghost", ["local"]))
    assert run.status is RunStatus.SUCCEEDED
    traced = [
        e
        for e in harness.events(step="s")
        if e.data.get("provider") == "ghost" and "no provider named 'ghost'" in str(e.data.get("message"))
    ]
    assert traced


def test_bindings_give_each_agents_providers_model_and_function(harness: Harness) -> None:
    wf = Workflow.model_validate(
        {
            "name": "bindings",
            "defaults": {"fallback": ["local"]},
            "agents": {
                "writer": {"provider": "fake", "model": "smart"},
                "fn": {"function": "mod:fn"},
                "idle": {"provider": "fake"},
            },
            "steps": {"w": {"agent": "writer"}, "f": {"agent": "fn", "needs": ["w"]}},
        }
    )
    harness.provider("unused")
    plan = Plan(wf, harness.plugins.providers, "other")
    assert plan.bindings() == {
        "writer": {"providers": ["other", "local"], "model": "smart", "function": None},
        "fn": {"providers": ["local"], "model": None, "function": "mod:fn"},
        "idle": {"providers": [], "model": None, "function": None},  # used by no step
    }
    assert plan.override == "other"
    assert list(plan.providers) == ["other", "local"]
    assert isinstance(plan.provider("other").error, UnknownProvider)


async def test_providers_are_resolved_and_made_once_per_run_not_per_call(harness: Harness) -> None:
    validated: list[Any] = []
    made: list[int] = []

    class CountedConfig(ProviderConfig):
        @classmethod
        def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
            validated.append(obj)
            return super().model_validate(obj, *args, **kwargs)

    base = function_provider("counted", lambda request: f"{request.step} done")

    class Counted(base):  # type: ignore[valid-type,misc]
        Config = CountedConfig

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(1)
            super().__init__(*args, **kwargs)

    harness.register(ProviderPlugin(Counted))
    chain = "\n".join(f"  s{i}: {{agent: w, prompt: p{i}, needs: [s{i - 1}]}}" for i in range(1, 20))
    wf = harness.load(
        f"""
name: many
providers:
  counted: {{models: {{fast: m1}}}}
agents:
  w: {{provider: counted, model: fast}}
steps:
  s0: {{agent: w, prompt: p0}}
{chain}
"""
    )
    validated.clear()  # the loader checks the settings too; count the run's own
    run = await harness.run(wf)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["s19"].output == "s19 done"
    started = harness.events(EventType.CALL_STARTED)
    assert len(started) == 20
    assert {e.data["model"] for e in started} == {"m1"}  # the settings were used
    assert validated == [{"models": {"fast": "m1"}}]
    assert made == [1]


async def test_provider_override_rebinds_agents_but_not_functions(harness: Harness) -> None:
    fake = harness.provider("from fake")
    harness.module(
        """
        def upper(prompt):
            return prompt.upper()
        """
    )
    run = await harness.run(
        """
        name: override
        agents:
          writer: {provider: local}
          fn: {function: "MOD:upper"}
        steps:
          w: {agent: writer, prompt: hi}
          f: {agent: fn, prompt: "{{ steps.w.output }}", needs: [w]}
        mock:
          writer: from local
        """,
        provider="fake",
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert harness.one(EventType.CALL_STARTED, "w").data["provider"] == "fake"
    assert harness.one(EventType.CALL_STARTED, "f").data["provider"] == "local"
    assert (run.steps["w"].output, run.steps["w"].provider) == ("from fake", "fake")
    assert (run.steps["f"].output, run.steps["f"].provider) == ("FROM FAKE", "local")
    started = harness.one(EventType.RUN_STARTED).data
    assert started["provider_override"] == "fake"
    assert started["bindings"]["writer"]["providers"] == ["fake"]
    assert started["bindings"]["fn"]["providers"] == ["local"]
    assert [r.step for r in fake.requests] == ["w"]
    assert isinstance(fake.requests[0], AgentRequest)
