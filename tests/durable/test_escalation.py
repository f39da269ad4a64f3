"""on_failure: a handler step runs when a step fails for good; the run fails unless it recovers."""

from __future__ import annotations

import pytest

from .helpers import Workspace

ESCALATE = """\
name: escalate
%(workflow_handler)s
defaults: {retry: {attempts: 2, backoff: 0}}
agents:
  e: {function: durable_agents:echo}
  b: {function: durable_agents:boom}
steps:
  a: {agent: e, prompt: "a"}
  b: {agent: b, needs: a, prompt: "b"%(step_handler)s}
  c: {agent: e, needs: b, prompt: "c got {{ steps.b.output }}"}
  handler:
    agent: e
    prompt: "{{ failure.step }} failed ({{ failure.kind }}): {{ failure.message }}"
    recover: %(recover)s
"""

MESSAGE = "b failed (agent_error): durable_agents:boom raised ValueError: b exploded"


def flow(recover: bool, where: str) -> str:
    return ESCALATE % {
        "workflow_handler": "on_failure: handler" if where == "workflow" else "",
        "step_handler": ", on_failure: handler" if where == "step" else "",
        "recover": "true" if recover else "false",
    }


@pytest.mark.parametrize("where", ["step", "workflow"])
def test_a_handler_without_recover_runs_and_the_run_still_fails(ws: Workspace, where: str) -> None:
    ws.write(flow(False, where))
    result, run = ws.cli_json("run", "flow.yaml")
    assert result.code == 1, result.out
    assert run["status"] == "failed"
    assert run["error"]["step"] == "b"
    steps = run["steps"]
    assert steps["b"]["status"] == "failed"
    assert steps["handler"]["status"] == "succeeded"
    assert steps["handler"]["output"] == MESSAGE
    assert steps["c"]["status"] == "pending"
    done = ws.done()
    assert done[("b", None)] == 1  # an agent error is not retried
    assert ("c", None) not in done


@pytest.mark.parametrize("where", ["step", "workflow"])
def test_a_handler_with_recover_stands_in_and_the_run_succeeds(ws: Workspace, where: str) -> None:
    ws.write(flow(True, where))
    result, run = ws.cli_json("run", "flow.yaml")
    assert result.code == 0, result.out
    assert run["status"] == "succeeded"
    steps = run["steps"]
    assert steps["handler"]["output"] == MESSAGE
    assert steps["b"]["status"] == "succeeded"
    assert steps["b"]["output"] == MESSAGE
    assert steps["c"]["output"] == f"c got {MESSAGE}"
    recovered = [e for e in ws.events() if e["type"] == "StepSucceeded" and e["step"] == "b"]
    assert len(recovered) == 1 and recovered[0]["data"]["recovered_by"] == "handler"


def test_a_recovered_run_resumes_as_succeeded_with_the_handlers_output(ws: Workspace) -> None:
    ws.write(flow(True, "step"))
    result, run = ws.cli_json("run", "flow.yaml")
    assert result.code == 0
    shown = ws.state(run["run_id"])
    assert shown["steps"]["b"]["output"] == MESSAGE
    again = ws.cli("resume", run["run_id"])
    assert again.code == 0 and "already succeeded" in again.stdout


ESCALATE_TO_A_PERSON = """\
name: escalate-to-a-person
agents:
  e: {function: durable_agents:echo}
  b: {function: durable_agents:boom}
defaults: {retry: {attempts: 1}}
steps:
  a: {agent: e, prompt: "a"}
  b: {agent: b, needs: a, prompt: "b", on_failure: ask}
  c: {agent: e, needs: b, prompt: "c got {{ steps.b.output.decision }} {{ steps.b.output.comment }}"}
  ask:
    approval: {message: "{{ failure.step }} failed: {{ failure.message }}. Carry on?"}
    recover: true
"""


def test_an_approval_as_escalation_waits_and_an_approval_recovers_the_run(ws: Workspace) -> None:
    ws.write(ESCALATE_TO_A_PERSON)
    result, run = ws.cli_json("run", "flow.yaml")
    assert result.code == 1, result.out
    assert run["status"] == "waiting"
    run_id = run["run_id"]
    (listed,) = ws.cli_json("runs", "--waiting")[1]
    assert listed["waiting"][0]["step"] == "ask"
    assert listed["waiting"][0]["message"] == (
        "b failed: durable_agents:boom raised ValueError: b exploded. Carry on?"
    )
    assert ws.cli("approve", run_id, "ask", "--comment", "skip it").code == 0
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 0, result.out
    assert done["status"] == "succeeded"
    assert done["steps"]["c"]["output"] == "c got approved skip it"
    # the failed step is not called again: the person decided about that failure
    assert ws.done()[("b", None)] == 1


def test_an_approval_as_escalation_rejected_leaves_the_run_failed(ws: Workspace) -> None:
    ws.write(ESCALATE_TO_A_PERSON)
    run_id = ws.cli_json("run", "flow.yaml")[1]["run_id"]
    assert ws.cli("reject", run_id, "ask", "--comment", "stop").code == 0
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 1, result.out
    assert done["status"] == "failed"
    assert ("c", None) not in ws.done()
