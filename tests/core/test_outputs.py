"""Step outputs at the handoff (podium.core.outputs): replies parsed and validated, the workflow's
`outputs:` rendered with their types kept, and what a python agent's `steps` may read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from podium.core.calls import AgentResponse
from podium.core.errors import OutputInvalid, TemplateError
from podium.core.events import EventType, RunStatus
from podium.core.graph import Graph
from podium.core.outputs import UpstreamOutputs, parse_output, render_outputs
from podium.core.spec import Step

if TYPE_CHECKING:
    from conftest import Harness

TITLE = {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}


@pytest.mark.parametrize(
    ("response", "schema", "value"),
    [
        pytest.param(AgentResponse(text="plain"), None, "plain", id="text-no-schema"),
        pytest.param(AgentResponse(text='{"a": 1}'), None, '{"a": 1}', id="json-text-stays-text"),
        pytest.param(AgentResponse(output={"a": (1, 2)}), None, {"a": [1, 2]}, id="value-as-json"),
        pytest.param(AgentResponse(text='{"title": "t"}'), TITLE, {"title": "t"}, id="json"),
        pytest.param(AgentResponse(text='```json\n{"title": "t"}\n```'), TITLE, {"title": "t"}, id="fenced"),
        pytest.param(AgentResponse(output={"title": "t"}), TITLE, {"title": "t"}, id="value"),
        pytest.param(AgentResponse(text="42"), {"type": "integer"}, 42, id="integer"),
        pytest.param(AgentResponse(text="just words"), {"type": "string"}, "just words", id="string-schema"),
        pytest.param(AgentResponse(text='"quoted"'), {"type": "string"}, "quoted", id="json-string"),
    ],
)
def test_parse_output_gives_the_value_a_step_hands_on(
    response: AgentResponse, schema: dict[str, Any] | None, value: Any
) -> None:
    assert parse_output(response, schema) == value


@pytest.mark.parametrize(
    ("response", "schema", "message"),
    [
        pytest.param(AgentResponse(text="title=x"), TITLE, "the reply is not JSON: 'title=x'", id="not-json"),
        pytest.param(
            AgentResponse(text='{"name": 1}'), TITLE, "'title' is a required property", id="missing"
        ),
        pytest.param(
            AgentResponse(text='{"title": 3}'), TITLE, "at title: 3 is not of type 'string'", id="wrong-type"
        ),
        pytest.param(AgentResponse(output=[1]), {"type": "object"}, "at the top level", id="value"),
    ],
)
def test_parse_output_refuses_what_the_schema_does_not_accept(
    response: AgentResponse, schema: dict[str, Any], message: str
) -> None:
    with pytest.raises(OutputInvalid) as info:
        parse_output(response, schema)
    assert message in info.value.message
    assert info.value.kind == "output_invalid"
    assert info.value.fix


def test_render_outputs_keeps_the_type_of_a_single_expression() -> None:
    views = {"a": {"output": {"n": 3, "tags": ("x",)}, "status": "succeeded"}}
    sources = {
        "whole": "{{ steps.a.output }}",
        "n": "{{ steps.a.output.n }}",
        "text": "n={{ steps.a.output.n }}",
    }
    sources["who"] = "{{ inputs.who }}"
    assert render_outputs(sources, {"who": "ann"}, views) == {
        "whole": {"n": 3, "tags": ["x"]},  # as the store will hold it
        "n": 3,
        "text": "n=3",
        "who": "ann",
    }
    with pytest.raises(TemplateError, match=r"outputs\.bad"):
        render_outputs({"bad": "{{ steps.a.output.nope }}"}, {}, views)


def test_upstream_outputs_are_the_direct_and_indirect_needs_only() -> None:
    steps = {
        "a": Step(),
        "b": Step(needs=["a"]),
        "c": Step(needs=["b"]),
        "side": Step(),
        "d": Step(needs=["c"]),
    }
    views = {sid: {"output": sid.upper(), "status": "succeeded"} for sid in steps}
    upstream = UpstreamOutputs(views, Graph.of(steps), "c")
    assert dict(upstream) == {"a": "A", "b": "B"}
    assert len(upstream) == 2
    assert "side" not in upstream
    assert "c" not in upstream  # not itself
    with pytest.raises(KeyError):
        upstream["side"]


async def test_single_expression_outputs_keep_their_type(harness: Harness) -> None:
    harness.module(
        """
        def make(prompt):
            return {"n": 3, "tags": ["a", "b"], "nested": {"ok": True}}
        """
    )
    run = await harness.run(
        """
        name: outputs
        agents:
          m: {function: "MOD:make"}
        steps:
          a: {agent: m}
        outputs:
          whole: "{{ steps.a.output }}"
          tags: "{{ steps.a.output.tags }}"
          n: "{{ steps.a.output.n }}"
          text: "n={{ steps.a.output.n }}"
          status: "{{ steps.a.status }}"
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {
        "whole": {"n": 3, "tags": ["a", "b"], "nested": {"ok": True}},
        "tags": ["a", "b"],
        "n": 3,
        "text": "n=3",
        "status": "succeeded",
    }
    assert harness.one(EventType.RUN_FINISHED).data["outputs"] == run.outputs


async def test_an_output_template_error_fails_the_run(harness: Harness) -> None:
    run = await harness.run(
        """
        name: bad-output
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A}
        outputs:
          missing: "{{ steps.a.output.nope }}"
        mock:
          a: {reply: {present: 1}}
        """
    )
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "outputs.missing" in run.error.message
    assert run.steps["a"].status == "succeeded"  # the step itself did not fail
    assert run.steps["a"].output == '{"present": 1}'  # no schema: the reply is text
    assert harness.one(EventType.RUN_FINISHED).data["outputs"] == {}


FUNCTIONS = """
import asyncio

def upper(prompt):
    return prompt.upper()

async def from_inputs(prompt, inputs):
    await asyncio.sleep(0)
    return {"topic": inputs["topic"], "prompt": prompt}

def reads_steps(prompt, steps):
    return {"seen": sorted(steps), "up": steps["first"]}

def everything(prompt, **context):
    return sorted(context)

def only_prompt(prompt):
    return "fine"
"""


async def test_function_agents_get_the_context_they_ask_for(harness: Harness) -> None:
    harness.module(FUNCTIONS)
    run = await harness.run(
        """
        name: functions
        inputs:
          topic: {type: string, default: tides}
        agents:
          up: {function: "MOD:upper"}
          fi: {function: "MOD:from_inputs"}
          rs: {function: "MOD:reads_steps"}
          ev: {function: "MOD:everything"}
          op: {function: "MOD:only_prompt"}
        steps:
          first: {agent: up, prompt: "about {{ inputs.topic }}"}
          second: {agent: fi, prompt: "{{ steps.first.output }}", needs: [first]}
          third: {agent: rs, needs: [second]}
          fourth: {agent: ev, needs: [first]}
          fifth: {agent: op, prompt: p, needs: [first]}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    out = {sid: s.output for sid, s in run.steps.items()}
    assert out["first"] == "ABOUT TIDES"
    assert out["second"] == {"topic": "tides", "prompt": "ABOUT TIDES"}
    # `steps` holds every upstream step's output (direct and indirect), and only those
    assert out["third"] == {"seen": ["first", "second"], "up": "ABOUT TIDES"}
    assert set(out["fourth"]) >= {"inputs", "steps", "step", "run_id", "agent"}
    assert "prompt" not in out["fourth"]
    assert "item" not in out["fourth"]
    assert out["fifth"] == "fine"  # no context kwargs forced on a function that takes none
    assert {e.data["provider"] for e in harness.events(EventType.CALL_STARTED)} == {"local"}
