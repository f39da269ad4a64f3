"""What a step's run promises a user, pinned by mutants of podium.core.steps that survived the
suite (docs/testing.md): the messages and fixes of a bad foreach, what an on_failure handler and
the workflow's outputs can read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podium.core.events import EventType, RunStatus, StepStatus

if TYPE_CHECKING:
    from conftest import Harness


async def test_a_foreach_that_is_not_a_list_names_the_step_the_type_and_the_fix(harness: Harness) -> None:
    run = await harness.run(
        """
        name: not-a-list
        inputs: {xs: {type: string, default: abc}}
        agents: {w: {}}
        steps:
          b: {agent: w, prompt: B, foreach: "{{ inputs.xs }}"}
        mock: {b: never}
        """
    )
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error.message == "steps.b.foreach gave str, not a list"
    assert run.error.fix == "make foreach a list, or an expression that yields one"
    assert harness.events(EventType.CALL_STARTED, "b") == []


async def test_a_foreach_template_error_points_at_the_steps_foreach(harness: Harness) -> None:
    run = await harness.run(
        """
        name: bad-foreach
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: A, output: json}
          b: {agent: w, prompt: B, needs: [a], foreach: "{{ steps.a.output.items.missing }}"}
        mock: {a: {reply: {items: {}}}, b: never}
        """
    )
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error.step == "b"
    assert "steps.b.foreach" in run.error.message
    assert run.steps["b"].status is StepStatus.FAILED


async def test_an_on_failure_handler_reads_a_step_that_never_ran_as_pending(harness: Harness) -> None:
    run = await harness.run(
        """
        name: handler-sees-all
        agents: {w: {}}
        steps:
          bad: {agent: w, prompt: B, on_failure: fix}
          later: {agent: w, prompt: L, needs: [bad]}
          fix: {agent: w, prompt: "later is {{ steps.later.status }}; {{ failure.step }} failed"}
        mock:
          bad: {error: auth}
          later: never
          fix: noted
        """
    )
    assert run.steps["fix"].status is StepStatus.SUCCEEDED, run.error
    assert harness.one(EventType.CALL_STARTED, "fix").data["prompt"] == "later is pending; bad failed"


async def test_the_workflows_outputs_read_its_inputs_and_its_steps(harness: Harness) -> None:
    run = await harness.run(
        """
        name: outputs
        inputs: {topic: string}
        agents: {w: {}}
        steps:
          a: {agent: w, prompt: "on {{ inputs.topic }}"}
        outputs:
          topic: "{{ inputs.topic }}"
          text: "{{ steps.a.output }}"
        mock: {a: written}
        """,
        {"topic": "tides"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"topic": "tides", "text": "written"}


async def test_a_step_ready_while_a_failure_is_handled_waits_and_then_runs(harness: Harness) -> None:
    # `late` becomes ready (slow finishes) while `fix` handles bad's failure: it is held back until
    # fix has recovered the run, then it runs, once
    run = await harness.run(
        """
        name: deferred
        agents: {w: {}}
        steps:
          bad: {agent: w, prompt: B, on_failure: fix}
          slow: {agent: w, prompt: S}
          late: {agent: w, prompt: L, needs: [slow]}
          fix: {agent: w, prompt: F, recover: true}
        mock:
          bad: {error: auth}
          slow: {reply: s, latency: 0.05}
          fix: {reply: fixed, latency: 0.3}
          late: l
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["late"].output == "l"
    started_late = harness.one(EventType.STEP_STARTED, "late").seq
    assert (
        harness.one(EventType.STEP_SUCCEEDED, "slow").seq < harness.one(EventType.STEP_SUCCEEDED, "fix").seq
    )
    assert started_late > harness.one(EventType.STEP_SUCCEEDED, "fix").seq


async def test_a_python_agent_of_a_foreach_step_is_given_its_item_and_index(harness: Harness) -> None:
    harness.module(
        """
        def tag(prompt, item, index, step):
            return f"{step}#{index}={item} ({prompt})"
        """
    )
    run = await harness.run(
        """
        name: py-foreach
        agents: {fn: {function: "MOD:tag"}}
        steps:
          each: {agent: fn, prompt: "p{{ index }}", foreach: "{{ ['red', 'blue'] }}"}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.steps["each"].output == ["each#0=red (p0)", "each#1=blue (p1)"]


# --- outputs: what a reply becomes, and what a python agent's `steps` is ------------------------


async def test_the_repair_message_gives_the_error_and_the_schema_as_written(harness: Harness) -> None:
    fake = harness.provider("no json here", '{"titre": "Café"}')
    run = await harness.run(
        """
        name: repair
        agents: {w: {provider: fake}}
        steps:
          s:
            agent: w
            prompt: titre?
            output: {schema: {type: object, required: [titre], description: "le café"}}
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert fake.requests[1].messages[2].content == (
        "Your previous reply was rejected: the reply is not JSON: 'no json here'.\n"
        "Reply again with only a JSON value that matches this JSON Schema, and nothing else:\n"
        '{"type": "object", "required": ["titre"], "description": "le café"}'
    )


async def test_a_schema_that_allows_a_string_takes_a_plain_text_reply(harness: Harness) -> None:
    harness.provider("plain words", "still words")
    run = await harness.run(
        """
        name: text-or-null
        agents: {w: {provider: fake}}
        steps:
          a: {agent: w, prompt: A, output: {schema: {type: [string, "null"]}}}
          b: {agent: w, prompt: B, output: {schema: {type: [integer, "null"]}}, retry: {attempts: 1}}
        """
    )
    assert run.steps["a"].output == "plain words"
    # a schema without string in its types does not take text: the reply is refused, not passed on
    assert run.steps["b"].status is StepStatus.FAILED
    assert [e.data["kind"] for e in harness.events(EventType.CALL_FAILED, "b")] == ["output_invalid"] * 2


async def test_a_schema_without_a_type_refuses_a_text_reply_as_output_invalid(harness: Harness) -> None:
    harness.provider("not json")
    run = await harness.run(
        """
        name: untyped
        agents: {w: {provider: fake}}
        steps:
          a: {agent: w, prompt: A, output: {schema: {enum: [1, 2]}}, retry: {attempts: 1}}
        """
    )
    assert run.steps["a"].status is StepStatus.FAILED
    failed = harness.events(EventType.CALL_FAILED, "a")
    assert [e.data["kind"] for e in failed] == ["output_invalid"] * 2
    assert failed[0].data["message"] == "the reply is not JSON: 'not json'"


async def test_a_python_agent_reads_its_upstream_steps_only_and_shows_them(harness: Harness) -> None:
    harness.module(
        """
        def look(prompt, steps):
            try:
                steps["side"]
            except KeyError as exc:
                missing = str(exc)
            return {"seen": repr(steps), "missing": missing}
        """
    )
    run = await harness.run(
        """
        name: upstream
        agents: {w: {}, fn: {function: "MOD:look"}}
        steps:
          a: {agent: w, prompt: A}
          side: {agent: w, prompt: S}
          p: {agent: fn, prompt: P, needs: [a], output: json}
        mock: {a: x, side: y}
        """
    )
    assert run.steps["p"].output == {"seen": "UpstreamOutputs({'a': 'x'})", "missing": "'side'"}
    # a structured reply is recorded in its CallFinished as the value itself (what show and trace read)
    assert harness.one(EventType.CALL_FINISHED, "p").data["reply"] == run.steps["p"].output


async def test_a_reply_that_is_not_json_is_quoted_to_80_characters_with_the_fix(harness: Harness) -> None:
    harness.provider("", "x" * 100)
    run = await harness.run(
        """
        name: not-json
        agents: {w: {provider: fake}}
        steps:
          s: {agent: w, prompt: S, output: {schema: {type: object}}, retry: {attempts: 1}}
        """
    )
    failed = harness.events(EventType.CALL_FAILED, "s")
    assert [e.data["message"] for e in failed] == [
        "the reply is not JSON: ''",
        "the reply is not JSON: '" + "x" * 80 + "'",
    ]
    error = run.steps["s"].error
    assert error is not None and error.fix == "reply with JSON only, matching the step's output schema"


async def test_a_reply_that_breaks_the_schema_names_where_with_the_fix(harness: Harness) -> None:
    harness.provider('{"items": [{"title": "a"}, {}]}')
    run = await harness.run(
        """
        name: mismatch
        agents: {w: {provider: fake}}
        steps:
          s:
            agent: w
            prompt: S
            retry: {attempts: 1}
            output:
              schema:
                type: object
                properties: {items: {type: array, items: {type: object, required: [title]}}}
        """
    )
    error = run.steps["s"].error
    assert error is not None
    assert (
        error.message
        == "the reply does not match the output schema at items/1: 'title' is a required property"
    )
    assert error.fix == "reply with JSON matching the schema"


async def test_a_dependant_starts_when_its_needs_are_done_not_when_every_running_step_is(
    harness: Harness,
) -> None:
    run = await harness.run(
        """
        name: no-levels
        agents: {w: {}}
        steps:
          slow: {agent: w, prompt: S}
          fast: {agent: w, prompt: F}
          next: {agent: w, prompt: N, needs: [fast]}
        mock:
          slow: {reply: s, latency: 0.5}
          fast: f
          next: n
        """
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert harness.one(EventType.CALL_FINISHED, "next").seq < harness.one(EventType.CALL_FINISHED, "slow").seq
