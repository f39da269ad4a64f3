"""The workflow model (podium.core.spec): each step's provider chain, the providers a run uses,
output schemas, durations, and which steps are on_failure handlers rather than graph steps."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from podium.core.spec import MAX_SECONDS, Approval, Defaults, Retry, Step, Workflow, parse_duration


def workflow(**fields: Any) -> Workflow:
    return Workflow.model_validate({"name": "spec", **fields})


CHAINS = workflow(
    defaults={"provider": "bedrock", "fallback": ["local"]},
    agents={
        "plain": {},
        "pinned": {"provider": "vertex", "fallback": "azure"},
        "fn": {"function": "mod:fn", "provider": "bedrock", "fallback": ["vertex"]},
        "loops": {"provider": "bedrock", "fallback": ["local", "bedrock", "local"]},
    },
    steps={
        "d": {"agent": "plain"},
        "a": {"agent": "pinned"},
        "s": {"agent": "pinned", "fallback": ["local", "bedrock"]},
        "none": {"agent": "pinned", "fallback": []},
        "f": {"agent": "fn"},
        "dup": {"agent": "loops"},
        "gate": {"approval": "ok?"},
    },
)


@pytest.mark.parametrize(
    ("step", "override", "chain"),
    [
        pytest.param("d", None, ["bedrock", "local"], id="defaults"),
        pytest.param("a", None, ["vertex", "azure"], id="agent-over-defaults"),
        pytest.param("s", None, ["vertex", "local", "bedrock"], id="step-over-agent"),
        pytest.param("none", None, ["vertex"], id="step-says-none"),
        pytest.param("f", None, ["local", "vertex"], id="function-always-local"),
        pytest.param("f", "bedrock", ["local", "vertex"], id="function-ignores-override"),
        pytest.param("a", "fake", ["fake", "azure"], id="override-replaces-primary"),
        pytest.param("d", "local", ["local"], id="override-duplicate-removed"),
        pytest.param("dup", None, ["bedrock", "local"], id="duplicates-removed-in-order"),
        pytest.param("gate", "fake", [], id="approval-calls-none"),
    ],
)
def test_chain_is_primary_then_fallbacks_from_step_agent_or_defaults(
    step: str, override: str | None, chain: list[str]
) -> None:
    assert CHAINS.chain(CHAINS.steps[step], override) == chain


def test_providers_used_are_every_chains_providers_in_first_use_order() -> None:
    assert CHAINS.providers_used() == ["bedrock", "local", "vertex", "azure"]
    assert CHAINS.providers_used("fake") == ["fake", "local", "azure", "bedrock", "vertex"]


TYPED = workflow(
    types={
        "Plan": {"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}},
        "Item": {"type": "string"},
    },
    agents={"w": {}},
    steps={
        "inline": {"agent": "w", "output": {"schema": {"type": "array"}}},
        "named": {"agent": "w", "output": "Plan"},
        "builtin": {"agent": "w", "output": "integer"},
        "json": {"agent": "w", "output": "json"},
        "text": {"agent": "w"},
    },
)


@pytest.mark.parametrize(
    ("step", "schema"),
    [
        ("inline", {"type": "array", "$defs": TYPED.types}),
        ("named", {**TYPED.types["Plan"], "$defs": TYPED.types}),
        ("builtin", {"type": "integer", "$defs": TYPED.types}),
        ("json", {"$defs": TYPED.types}),
        ("text", None),
    ],
)
def test_output_schema_resolves_named_types_through_defs(step: str, schema: dict[str, Any] | None) -> None:
    assert TYPED.output_schema(TYPED.steps[step]) == schema


def test_output_schema_without_types_has_no_defs_and_is_a_copy() -> None:
    wf = workflow(agents={"w": {}}, steps={"s": {"agent": "w", "output": {"schema": {"type": "object"}}}})
    schema = wf.output_schema(wf.steps["s"])
    assert schema == {"type": "object"}
    assert schema is not None
    schema["mutated"] = True
    assert wf.output_schema(wf.steps["s"]) == {"type": "object"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("45s", 45),
        ("30m", 1800),
        ("2h", 7200),
        ("3d", 259200),
        ("1w", 604800),
        (" 1.5 h ", 5400),
    ],
)
def test_parse_duration_reads_seconds_and_units(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert Approval(timeout=text).timeout == seconds
    assert Step(timeout=text).timeout == seconds
    assert Defaults(timeout=text).timeout == seconds  # as a step's, not refused as "not a number"
    assert Retry(backoff=text, max_backoff=text).max_backoff == seconds


@pytest.mark.parametrize("text", ["99999999999d", "5300w", 1e300, float("inf")])
def test_a_wait_longer_than_a_century_is_refused_when_read_not_midway_through_a_run(text: Any) -> None:
    # 99999999999d once passed validation, then overflowed the approval's deadline mid-run
    for make in (
        lambda: Approval(timeout=text),
        lambda: Step(timeout=text),
        lambda: Defaults(timeout=text),
        lambda: Retry(max_backoff=text),
    ):
        with pytest.raises(ValidationError, match="less than or equal to"):
            make()
    assert Approval(timeout=MAX_SECONDS).timeout == MAX_SECONDS


@pytest.mark.parametrize("text", ["soon", "2 hours", "5y", "-3m", ""])
def test_parse_duration_leaves_bad_text_for_the_model_to_refuse(text: str) -> None:
    assert parse_duration(text) == text
    with pytest.raises(ValidationError):
        Approval(timeout=text)


def test_handlers_are_on_failure_steps_and_not_graph_steps() -> None:
    wf = workflow(
        on_failure="alert",
        agents={"w": {}},
        steps={
            "a": {"agent": "w", "on_failure": "fix"},
            "b": {"agent": "w", "needs": ["a"]},
            "fix": {"agent": "w", "recover": True},
            "alert": {"agent": "w"},
        },
    )
    assert wf.handlers == frozenset({"fix", "alert"})
    assert list(wf.graph_steps) == ["a", "b"]
    plain = workflow(agents={"w": {}}, steps={"a": {"agent": "w", "on_failure": "nowhere"}})
    assert plain.handlers == frozenset()  # a name that is not a step is the loader's to report
    assert list(plain.graph_steps) == ["a"]
