"""Approval steps across processes: run → waiting → approve/reject → resume; --wait; timeouts; cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from .helpers import Workspace, wait_for

APPROVAL_FLOW = """\
name: approvals
agents:
  e: {function: durable_agents:echo}
steps:
  draft: {agent: e, prompt: "draft v1"}
  gate:
    needs: draft
    approval:
      message: "Publish {{ steps.draft.output }}?"
      fields:
        reason: {type: string}
        ticket: {type: integer, required: false}
  publish:
    agent: e
    needs: gate
    prompt: >-
      publish decision={{ steps.gate.output.decision }} by={{ steps.gate.output.by }}
      comment={{ steps.gate.output.comment }} reason={{ steps.gate.output.reason }}
  notify:
    agent: e
    needs: gate
    when: "{{ steps.gate.output.decision == 'rejected' }}"
    prompt: "rejected by {{ steps.gate.output.by }}: {{ steps.gate.output.comment }}"
outputs:
  published: "{{ steps.publish.output }}"
"""

TIMEOUT_FLOW = """\
name: timeouts
agents:
  e: {function: durable_agents:echo}
steps:
  gate:
    approval: {message: "Go?", timeout: %s, on_timeout: %s}
  after:
    agent: e
    needs: gate
    prompt: "after {{ steps.gate.output.decision }} by {{ steps.gate.output.by }}"
"""


def start_waiting(ws: Workspace, flow: str = APPROVAL_FLOW, *, in_process: bool = False) -> dict[str, Any]:
    """`podium run` up to the approval (in a process of its own unless `in_process`): exit 1, waiting."""
    ws.write(flow)
    result, data = (ws.cli_json if in_process else ws.podium_json)("run", "flow.yaml")
    assert result.code == 1, result.out
    assert data["status"] == "waiting"
    return data


def event_count(ws: Workspace) -> int:
    return len(ws.events())


def test_approval_round_trip_across_three_processes(ws: Workspace) -> None:
    # process 1: the run reaches the approval, records it, and exits
    started = start_waiting(ws)
    run_id = started["run_id"]
    assert started["steps"]["draft"]["status"] == "succeeded"
    assert started["steps"]["gate"]["status"] == "waiting"
    assert started["steps"]["publish"]["status"] == "pending"
    assert ws.sql("SELECT lease_owner FROM runs") == [(None,)]  # the exiting process let go

    result, waiting = ws.podium_json("runs", "--waiting")
    assert result.code == 0, result.out
    assert [r["run_id"] for r in waiting] == [run_id]
    assert waiting[0]["status"] == "waiting"
    (ask,) = waiting[0]["waiting"]
    assert ask["step"] == "gate"
    assert ask["message"] == "Publish draft v1?"
    assert set(ask["fields"]) == {"reason", "ticket"}
    human = ws.podium("runs", "--waiting")
    assert "Publish draft v1?" in human.stdout
    assert f"podium approve {run_id} gate" in human.stdout

    # process 2: the decision; a required field is enforced, an unknown one refused
    events = event_count(ws)
    missing = ws.podium("approve", run_id, "gate", "--by", "alice", "--comment", "ok")
    assert missing.code == 2, missing.out
    assert "reason" in missing.stderr and "Traceback" not in missing.out
    unknown = ws.podium("approve", run_id, "gate", "--field", "reason=x", "--field", "reasn=y")
    assert unknown.code == 2, unknown.out
    assert "reasn" in unknown.stderr
    bad_type = ws.podium("approve", run_id, "gate", "--field", "reason=x", "--field", "ticket=abc")
    assert bad_type.code == 2, bad_type.out
    assert event_count(ws) == events  # refusals write nothing

    approved = ws.podium(
        "approve", run_id, "gate", "--by", "alice", "--comment", "ok", "--field", "reason=x",
        "--field", "ticket=42",
    )  # fmt: skip
    assert approved.code == 0, approved.out
    assert f"podium resume {run_id}" in approved.stdout
    (decided,) = [e for e in ws.events() if e["type"] == "ApprovalDecided"]
    assert decided["step"] == "gate"
    assert decided["data"] == {
        "decision": "approved", "by": "alice", "comment": "ok", "fields": {"reason": "x", "ticket": 42},
    }  # fmt: skip
    again = ws.podium("approve", run_id, "gate", "--field", "reason=x")
    assert again.code == 2 and "already decided" in again.stderr

    # process 3: the run continues from the decision; nothing before it runs again
    result, done = ws.podium_json("resume", run_id)
    assert result.code == 0, result.out
    assert done["status"] == "succeeded"
    assert done["steps"]["gate"]["output"] == {
        "decision": "approved", "approved": True, "by": "alice", "comment": "ok", "reason": "x",
        "ticket": 42,
    }  # fmt: skip
    assert done["steps"]["publish"]["output"] == "publish decision=approved by=alice comment=ok reason=x"
    assert done["outputs"]["published"] == done["steps"]["publish"]["output"]
    assert done["steps"]["notify"]["status"] == "skipped"
    assert ws.done()[("draft", None)] == 1
    assert ws.podium_json("runs", "--waiting")[1] == []
    assert ws.integrity() == "ok"


def test_reject_skips_plain_dependants_visibly_and_runs_a_when_on_the_decision(ws: Workspace) -> None:
    run_id = start_waiting(ws, in_process=True)["run_id"]
    rejected = ws.cli(
        "reject", run_id, "gate", "--by", "bob", "--comment", "not yet", "--field", "reason=typos"
    )
    assert rejected.code == 0, rejected.out
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 0, result.out
    assert done["status"] == "succeeded"  # the workflow says what a rejection leads to (notify's when)
    steps = done["steps"]
    assert steps["gate"]["status"] == "rejected"
    assert steps["gate"]["output"]["decision"] == "rejected"
    assert steps["gate"]["output"]["approved"] is False
    assert steps["publish"]["status"] == "skipped"
    assert "gate" in steps["publish"]["reason"] and "rejected" in steps["publish"]["reason"]
    assert steps["notify"]["status"] == "succeeded"
    assert steps["notify"]["output"] == "rejected by bob: not yet"
    assert ("publish", None) not in ws.done()
    shown = ws.cli("show", run_id)
    assert "skipped" in shown.stdout and "rejected" in shown.stdout


REJECT_FLOW = """\
name: unhandled
agents:
  e: {function: durable_agents:echo}
steps:
  draft: {agent: e, prompt: "draft v1"}
  gate:
    needs: draft
    approval: {message: "Publish?", fields: {reason: {type: string}}}
  publish: {agent: e, needs: gate, prompt: "publish"}
"""


def test_a_rejection_nothing_handles_fails_the_run_everywhere(ws: Workspace) -> None:
    run_id = start_waiting(ws, REJECT_FLOW, in_process=True)["run_id"]
    # the fields are for approving: a rejection needs none
    rejected = ws.cli("reject", run_id, "gate", "--by", "bob", "--comment", "no")
    assert rejected.code == 0, rejected.out
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 1, result.out
    assert done["status"] == "failed" and done["outputs"] == {}
    assert done["steps"]["gate"]["status"] == "rejected"
    assert done["steps"]["publish"]["status"] == "pending"
    assert done["error"]["kind"] == "rejected" and "rejected by bob: no" in done["error"]["message"]
    assert ("publish", None) not in ws.done()
    [row] = [line for line in ws.cli("show", run_id).stdout.splitlines() if " gate " in line]
    assert "rejected" in row and "succeeded" not in row
    assert {r["run_id"]: r["status"] for r in ws.cli_json("runs")[1]}[run_id] == "failed"
    assert ws.cli_json("show", run_id)[1]["steps"]["gate"]["status"] == "rejected"
    # resuming again asks nobody again and ends the same way
    again, data = ws.cli_json("resume", run_id)
    assert again.code == 1 and data["status"] == "failed"
    assert len([e for e in ws.events() if e["type"] == "ApprovalDecided"]) == 1


def test_a_rejection_goes_to_the_on_failure_step_with_its_kind(ws: Workspace) -> None:
    flow = REJECT_FLOW.replace(
        "  publish:", '  tell: {agent: e, prompt: "{{ failure.kind }}: {{ failure.message }}"}\n  publish:'
    ).replace("approval: {message", "on_failure: tell\n    approval: {message")
    run_id = start_waiting(ws, flow, in_process=True)["run_id"]
    assert ws.cli("reject", run_id, "gate", "--by", "bob").code == 0
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 1 and done["status"] == "failed"
    assert done["steps"]["tell"]["output"] == "rejected: step 'gate' was rejected by bob"


def test_approving_what_is_not_waiting_is_refused_clearly(ws: Workspace) -> None:
    run_id = start_waiting(ws, in_process=True)["run_id"]
    events = event_count(ws)
    cases = {
        ("no-such-run", "gate"): "no run",
        (run_id, "nope"): "has no step 'nope'",
        (run_id, "draft"): "not waiting",
        (run_id, "publish"): "not waiting",
    }
    for verb, ((rid, step), message) in zip(("approve", "reject") * 2, cases.items(), strict=True):
        result = ws.cli(verb, rid, step, "--field", "reason=x")
        assert result.code == 2, (verb, rid, step, result.out)
        assert message in result.stderr, (verb, rid, step, result.stderr)
        assert "Traceback" not in result.out
    assert event_count(ws) == events
    # and once the run is over, its approval is no longer waiting either
    ws.cli("approve", run_id, "gate", "--field", "reason=x", "--resume")
    late = ws.cli("reject", run_id, "gate", "--field", "reason=x")
    assert late.code == 2 and "not waiting" in late.stderr


def test_approve_with_resume_decides_and_continues_in_one_command(ws: Workspace) -> None:
    run_id = start_waiting(ws, in_process=True)["run_id"]
    result = ws.cli("approve", run_id, "gate", "--by", "carol", "--field", "reason=fine", "--resume")
    assert result.code == 0, result.out
    shown = ws.state(run_id)
    assert shown["status"] == "succeeded"
    assert shown["steps"]["publish"]["output"].startswith("publish decision=approved by=carol")


def test_run_wait_applies_a_decision_sent_from_another_process(ws: Workspace) -> None:
    ws.write(APPROVAL_FLOW)
    proc = ws.spawn("run", "flow.yaml", "--wait", "--json")
    wait_for(lambda: ws.has_event("ApprovalRequested", "gate"), what="the approval request")
    run_id = ws.run_id()
    # fields are enforced before anything is sent
    missing = ws.podium("approve", run_id, "gate", "--by", "dave")
    assert missing.code == 2 and "reason" in missing.stderr
    sent = ws.podium("approve", run_id, "gate", "--by", "dave", "--comment", "go", "--field", "reason=r")
    assert sent.code == 0, sent.out
    assert "sent to the process driving it" in sent.stdout
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        ws.kill(proc)
        raise AssertionError("the waiting process never picked the decision up") from None
    assert proc.returncode == 0, err
    # the waiting process applied it itself (no other process resumed the run), then went on
    resumed = [e for e in ws.events(run_id) if e["type"] == "RunResumed"]
    assert [e["data"]["owner"].split(":")[1] for e in resumed] == [str(proc.pid)]
    data = json.loads(out)
    assert data["status"] == "succeeded"
    assert data["steps"]["publish"]["output"] == "publish decision=approved by=dave comment=go reason=r"
    decided = [e for e in ws.events(run_id) if e["type"] == "ApprovalDecided"]
    assert len(decided) == 1
    assert ws.sql("SELECT COUNT(*) FROM inbox") == [(0,)]


def test_a_decision_sent_to_a_wait_process_that_dies_before_reading_it_is_not_lost(ws: Workspace) -> None:
    ws.write(APPROVAL_FLOW)
    proc = ws.spawn("run", "flow.yaml", "--wait")
    wait_for(lambda: ws.has_event("ApprovalRequested", "gate"), what="the approval request")
    run_id = ws.run_id()
    wait_for(lambda: ws.has_event("RunWaiting"), what="RunWaiting")
    time.sleep(0.2)  # not in the middle of a write
    os.kill(proc.pid, signal.SIGSTOP)  # alive (so the decision goes to its inbox) but not reading it
    try:
        sent = ws.podium("approve", run_id, "gate", "--by", "gina", "--field", "reason=r")
        assert sent.code == 0 and "sent to the process driving it" in sent.stdout, sent.out
    finally:
        ws.kill(proc)  # SIGKILL reaches a stopped process too
    assert not ws.has_event("ApprovalDecided")
    result, data = ws.podium_json("resume", run_id)
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    assert data["steps"]["publish"]["output"].startswith("publish decision=approved by=gina")
    assert ws.sql("SELECT COUNT(*) FROM inbox") == [(0,)]


def test_a_wait_process_killed_while_waiting_leaves_a_run_that_can_be_approved_and_resumed(
    ws: Workspace,
) -> None:
    ws.write(APPROVAL_FLOW)
    proc = ws.spawn("run", "flow.yaml", "--wait")
    wait_for(lambda: ws.has_event("ApprovalRequested", "gate"), what="the approval request")
    run_id = ws.run_id()
    ws.kill(proc)
    approved = ws.podium("approve", run_id, "gate", "--by", "hal", "--field", "reason=r", "--resume")
    assert approved.code == 0, approved.out
    assert "sent to" not in approved.stdout  # the owner is dead: the decision is recorded, not sent
    shown = ws.state(run_id)
    assert shown["status"] == "succeeded"
    assert shown["steps"]["publish"]["output"].startswith("publish decision=approved by=hal")
    assert ws.done()[("draft", None)] == 1


def test_a_run_waiting_in_a_wait_process_is_listed_as_waiting(ws: Workspace) -> None:
    """`podium runs --waiting` lists what needs a person, also when a `--wait` process holds the run."""
    ws.write(APPROVAL_FLOW)
    proc = ws.spawn("run", "flow.yaml", "--wait")
    wait_for(lambda: ws.has_event("ApprovalRequested", "gate"), what="the approval request")
    run_id = ws.run_id()
    try:
        result, waiting = ws.podium_json("runs", "--waiting")
        assert result.code == 0, result.out
        assert [r["run_id"] for r in waiting] == [run_id]
    finally:
        ws.podium("reject", run_id, "gate", "--field", "reason=done")
        proc.communicate(timeout=15)


@pytest.mark.parametrize(("on_timeout", "decision"), [("approve", "approved"), ("reject", "rejected")])
def test_an_approval_timeout_is_applied_on_resume_after_the_deadline(
    ws: Workspace, on_timeout: str, decision: str
) -> None:
    started = start_waiting(ws, TIMEOUT_FLOW % ("0.1", on_timeout), in_process=True)
    request = started["steps"]["gate"]["approval"]["request"]
    assert request["on_timeout"] == on_timeout and request["deadline"]
    time.sleep(0.2)
    result, done = ws.cli_json("resume", started["run_id"])
    decided = done["steps"]["gate"]["approval"]["decision"]
    assert decided["decision"] == decision and decided["by"] == "timeout"
    if decision == "approved":
        assert result.code == 0, result.out
        assert done["status"] == "succeeded"
        assert done["steps"]["gate"]["output"]["decision"] == "approved"
        assert done["steps"]["after"]["output"] == "after approved by timeout"
    else:
        # nothing in this workflow says what a rejection leads to: it is not a success
        assert result.code == 1, result.out
        assert done["status"] == "failed"
        assert done["steps"]["gate"]["status"] == "rejected"
        assert done["error"]["step"] == "gate" and done["error"]["kind"] == "rejected"
        assert "rejected by timeout" in done["error"]["message"] and "when:" in done["error"]["fix"]
        assert done["steps"]["after"]["status"] == "pending"
        assert ("after", None) not in ws.done()


def test_a_decision_after_the_deadline_is_refused_and_on_timeout_decides(ws: Workspace) -> None:
    run_id = start_waiting(ws, TIMEOUT_FLOW % ("0.1", "reject"), in_process=True)["run_id"]
    time.sleep(0.2)
    late = ws.cli("approve", run_id, "gate", "--by", "late")
    assert late.code == 2, late.out
    assert (
        "nobody decided in time" in late.out
        and "rejected" in late.out
        and f"podium resume {run_id}" in late.out
    )
    assert not ws.has_event("ApprovalDecided")  # a late approval is not the decision
    for shown in (ws.cli("runs", "--waiting"), ws.cli("show", run_id)):
        assert "nobody decided in time" in shown.out and "podium approve" not in shown.out
    result, done = ws.cli_json("resume", run_id)
    assert result.code == 1 and done["steps"]["gate"]["status"] == "rejected"
    assert done["steps"]["gate"]["approval"]["decision"]["by"] == "timeout"


def test_a_resume_before_the_deadline_keeps_waiting(ws: Workspace) -> None:
    started = start_waiting(ws, TIMEOUT_FLOW % ("1h", "approve"), in_process=True)
    result, data = ws.cli_json("resume", started["run_id"])
    assert result.code == 1 and data["status"] == "waiting"
    assert not ws.has_event("ApprovalDecided")
    assert len([e for e in ws.events() if e["type"] == "ApprovalRequested"]) == 1


def test_run_wait_applies_the_timeout_itself(ws: Workspace) -> None:
    ws.write(TIMEOUT_FLOW % ("0.3", "approve"))
    result, data = ws.cli_json("run", "flow.yaml", "--wait")
    assert result.code == 0, result.out
    assert data["steps"]["after"]["output"] == "after approved by timeout"


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_a_waiting_run(ws: Workspace) -> None:
    run_id = start_waiting(ws, in_process=True)["run_id"]
    result = ws.cli("cancel", run_id, "--by", "erin")
    assert result.code == 0, result.out
    assert f"cancelled: run {run_id}" in result.stdout
    shown = ws.state(run_id)
    assert shown["status"] == "cancelled"
    assert ws.cli_json("runs", "--waiting")[1] == []
    steps = ws.cli_json("show", run_id)[1]["steps"]
    assert steps["gate"]["status"] == "cancelled"  # it no longer waits for anyone
    assert steps["draft"]["status"] == "succeeded" and steps["publish"]["status"] == "cancelled"
    events = event_count(ws)
    again = ws.cli("cancel", run_id)
    assert again.code == 0, again.out
    assert event_count(ws) == events
    assert "already cancelled" in again.stdout, again.stdout  # not a second "cancelled: run …"


def test_a_cancelled_run_is_not_waiting_for_approval(ws: Workspace) -> None:
    run_id = start_waiting(ws, in_process=True)["run_id"]
    assert ws.cli("cancel", run_id).code == 0
    events = event_count(ws)
    late = ws.cli("approve", run_id, "gate", "--field", "reason=x")
    assert late.code == 2, late.out
    assert "not waiting" in late.stderr
    assert event_count(ws) == events
