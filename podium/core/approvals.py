"""Approval steps: the request, the decision (from this process or another's inbox), timeouts, and
the checks a decision must pass before it is recorded."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from podium.core import templates
from podium.core.errors import ApprovalRejected, BadInput, InputError, TemplateError, ToolApprovalNeeded
from podium.core.events import EventType, StepStatus
from podium.core.run import Run
from podium.core.spec import Step
from podium.core.state import RunState, StepOutcome, view

log = logging.getLogger("podium")

DECISIONS = ("approved", "rejected")


class Approvals:
    """The approval steps of one driven run."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def settle(self, sid: str, step: Step, context: dict[str, Any]) -> StepStatus:
        """Settle an approval step from its decision, or request one and report WAITING."""
        state = self.state
        spec = step.approval
        assert spec is not None
        if sid in state.decided:
            d = state.decided[sid]
            approved = d.get("decision") == "approved"
            output = {
                "decision": d.get("decision"),
                "approved": approved,
                "by": d.get("by"),
                "comment": d.get("comment"),
                **(d.get("fields") or {}),
            }
            if approved:
                return state.succeed(sid, output, output=output)
            if self.handled(sid):
                state.views[sid] = view(output, StepStatus.REJECTED, rejected=True)
                state.events.emit(EventType.STEP_REJECTED, sid, output=output)
                return StepStatus.REJECTED
            said = f": {d.get('comment')}" if d.get("comment") else ""
            when = f"when: \"{{{{ steps.{sid}.output.decision == 'rejected' }}}}\""
            return state.fail(
                sid,
                StepOutcome(
                    ApprovalRejected(
                        f"step '{sid}' was rejected by {d.get('by') or 'someone'}{said}",
                        fix=f"a rejection ends the run unless the workflow says what it leads to: give a"
                        f" step that needs '{sid}' its own {when}, or give '{sid}' an on_failure: step",
                    ),
                    None,
                ),
            )
        if sid not in state.requested:
            try:
                message = templates.render(spec.message, context, where=f"steps.{sid}.approval.message")
            except TemplateError as exc:
                return state.fail(sid, StepOutcome(exc, None))
            deadline = (
                (self.state.now() + timedelta(seconds=spec.timeout)).isoformat() if spec.timeout else None
            )
            request = {
                "message": message if isinstance(message, str) else json.dumps(message),
                "fields": {k: f.model_dump() for k, f in spec.fields.items()},
                "deadline": deadline,
                "on_timeout": spec.on_timeout,
            }
            state.events.emit(EventType.STEP_STARTED, sid, agent=None, items=None)
            state.events.emit(EventType.APPROVAL_REQUESTED, sid, **request)
            state.requested[sid] = request
        state.awaiting.add(sid)
        self.apply_timeouts()
        if sid in state.decided:
            state.awaiting.discard(sid)
            return self.settle(sid, step, context)
        return StepStatus.WAITING

    def ask_for_tool(self, sid: str, waiting: ToolApprovalNeeded) -> StepStatus:
        """A tool marked ``approval: true`` was asked for in step `sid`'s call: ask a person, and wait.

        The request is an ApprovalRequested on the step itself (so ``podium approve RUN STEP``
        decides it), naming the tool and its arguments; the decision re-runs the step.
        """
        state = self.state
        request = {
            "message": waiting.message,
            "fields": {},
            "deadline": None,
            "on_timeout": "reject",
            "tool": waiting.request,
        }
        state.events.emit(EventType.APPROVAL_REQUESTED, sid, **request)
        state.requested[sid] = request
        state.decided.pop(sid, None)
        return StepStatus.WAITING

    def handled(self, sid: str) -> bool:
        """Whether the workflow says what a rejection of `sid` leads to: a step that needs it has a
        `when:` of its own (it reads the decision); the others that need it are then skipped."""
        steps = self.state.workflow.steps
        return any(sid in step.needs and step.when is not None for step in steps.values())

    def receive(self, data: Mapping[str, Any]) -> None:
        """A decision from another process (through the run's inbox)."""
        sid = data.get("step", "")
        if sid in self.state.requested and sid not in self.state.decided:
            self.decide(sid, data)
        else:
            log.warning(
                "run %s: ignored a decision for step %r, which is not waiting", self.state.run_id, sid
            )

    def apply_timeouts(self) -> None:
        """Decide, as `on_timeout` says, every awaited approval whose deadline has passed."""
        state = self.state
        now = self.state.now()
        for sid in list(state.awaiting):
            request = state.requested.get(sid, {})
            deadline = request.get("deadline")
            if sid not in state.decided and deadline and datetime.fromisoformat(deadline) <= now:
                approve = request.get("on_timeout") == "approve"
                self.decide(
                    sid,
                    {"decision": "approved" if approve else "rejected", "by": "timeout",
                     "comment": f"no decision by {deadline}", "fields": {}},
                )  # fmt: skip

    def decide(self, sid: str, data: Mapping[str, Any]) -> None:
        decision = {
            "decision": data.get("decision"),
            "by": data.get("by"),
            "comment": data.get("comment"),
            "fields": dict(data.get("fields") or {}),
        }
        self.state.events.emit(EventType.APPROVAL_DECIDED, sid, **decision)
        self.state.decided[sid] = decision
        self.state.wake.set()


def check_decision(
    run: Run, step: str, decision: str, fields: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """A decision on `run`'s step, checked against what the step asks; returns the typed fields.

    Raises BadInput when the step is not waiting for a person, or when its deadline has passed (its
    `on_timeout` decides, as it would have in a process that waited); InputError when the decision
    is neither 'approved' nor 'rejected', or a field is unknown, missing or mistyped.
    """
    from podium.core.loader import coerce_input, suggest
    from podium.core.spec import Input

    if decision not in DECISIONS:
        raise InputError(
            f"decision {decision!r} is neither 'approved' nor 'rejected'",
            fix="pass decision='approved' or decision='rejected'",
        )
    if run.status in ("succeeded", "cancelled"):
        raise BadInput(
            f"run {run.run_id} has {run.status}; step '{step}' is not waiting for approval",
            fix="`podium runs --waiting` lists the runs that wait for a person",
        )
    found = run.steps.get(step)
    if found is None:
        raise BadInput(
            f"run {run.run_id} has no step '{step}'{suggest(step, run.steps)}",
            fix=f"steps: {', '.join(run.steps)}",
        )
    waiting = found.status == StepStatus.WAITING and found.approval and not found.approval.get("decision")
    if not waiting:
        state = "already decided" if found.approval and found.approval.get("decision") else found.status
        raise BadInput(
            f"step '{step}' of run {run.run_id} is not waiting for approval ({state})",
            fix="`podium runs --waiting` lists the runs that wait for a person",
        )
    request = (found.approval or {}).get("request") or {}
    if (deadline := request.get("deadline")) and datetime.fromisoformat(deadline) <= (
        now or datetime.now(UTC)
    ):
        # nobody decided in time: the step's on_timeout is the decision, whenever the run goes on
        timed_out = "approved" if request.get("on_timeout") == "approve" else "rejected"
        raise BadInput(
            f"step '{step}' of run {run.run_id} waited for a decision until {deadline}; nobody decided"
            f" in time, so its on_timeout decides: {timed_out}",
            fix=f"podium resume {run.run_id} applies it; to decide later, give the approval a longer timeout",
        )
    spec = request.get("fields", {})
    given = dict(fields)
    approving = decision == "approved"  # the fields are what an approval must give; a rejection may
    for name in given:
        if name not in spec:
            raise InputError(
                f"step '{step}' asks for no field '{name}'{suggest(name, spec)}",
                fix=f"fields it asks for: {', '.join(spec) or 'none'}",
            )
    for name, field_spec in spec.items():
        if name not in given:
            if approving and field_spec.get("required", True):
                raise InputError(
                    f"step '{step}' needs the field '{name}' ({field_spec.get('type', 'string')})",
                    fix=f"add --field {name}=VALUE",
                )
            continue
        kind = field_spec.get("type", "string")
        try:
            given[name] = coerce_input(name, Input(type=kind), given[name])
        except InputError:
            # coerce_input speaks of run inputs (-i): a decision's field is given another way
            raise InputError(
                f"step '{step}': the field '{name}' must be {kind}, got {given[name]!r}",
                fix=f"give it as {kind}: --field {name}=<{kind}> (or in fields= from python)",
            ) from None
    return given
