"""The state of one run while a process drives it, shared by the scheduler, steps and approvals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.core.calls import RunContext
from podium.core.dispatch import Dispatcher
from podium.core.errors import PodiumError, PolicyError
from podium.core.events import EventType, StepStatus, utcnow
from podium.core.plan import Plan
from podium.core.replay import Progress
from podium.core.spec import Workflow


class StepOutcome(Exception):
    """Carries a step's definitive failure out of its task, with the provider it failed on."""

    def __init__(self, error: PodiumError, provider: str | None) -> None:
        self.error = error
        self.provider = provider

    def describe(self, step: str | None) -> dict[str, Any]:
        """The failure as events and templates record it (`failure.kind`, `.message`, …)."""
        err = self.error
        out = {
            "step": step,
            "kind": getattr(err, "kind", "error"),
            "message": err.message,
            "fix": err.fix,
            "provider": self.provider,
        }
        if getattr(err, "traceback", None):
            out["traceback"] = err.traceback
        return out


def view(output: Any, status: StepStatus, **extra: Any) -> dict[str, Any]:
    """A settled step as templates read it: `steps.<id>.output` and `.status`."""
    # one text per status, not a copy per step (str() of a StrEnum member makes one)
    return {"output": output, "status": _STATUS_TEXT.get(status) or str(status), **extra}


_STATUS_TEXT = {status: str(status) for status in StepStatus}


@dataclass(eq=False)
class RunState:
    """What a driving process knows of its run: settled steps, approvals, failures, signals.

    `views` maps each settled step to what templates read as `steps.<id>`; `failures` maps an
    on_failure handler to the failure it handles. `cancel_requested`, `wake` and `tasks` are how
    the heartbeat (a cancel, a decision, a lost lease) reaches the scheduler.
    """

    plan: Plan
    run_id: str
    inputs: dict[str, Any]
    events: Dispatcher
    context: RunContext
    progress: Progress
    resumed: bool = False
    wait: bool = False
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    requested: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: dict[str, dict[str, Any]] = field(default_factory=dict)
    awaiting: set[str] = field(default_factory=set)
    failures: dict[str, tuple[str, StepOutcome]] = field(default_factory=dict)
    cancel_requested: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: dict[asyncio.Task[StepStatus], str] = field(default_factory=dict)
    # the wall clock approval deadlines are read against (Temporal's workflow code passes its own)
    now: Callable[[], datetime] = utcnow

    @property
    def workflow(self) -> Workflow:
        return self.plan.workflow

    def emit_started(self, settings: dict[str, Any], **more: Any) -> None:
        """The run's first event, RunStarted: what a resume and a report read of its start."""
        wf, plan = self.workflow, self.plan
        self.events.emit(
            EventType.RUN_STARTED,
            workflow=wf.name,
            file=str(wf.path) if wf.path else None,
            file_hash=wf.file_hash,
            inputs=self.inputs,
            steps=list(wf.steps),
            bindings=plan.bindings(),
            provider_override=plan.override,
            settings=settings,
            **more,
        )

    @property
    def lost(self) -> bool:
        return self.events.lost

    def all_views(self) -> dict[str, dict[str, Any]]:
        """Every step's view, unsettled ones as pending (what outputs and handlers read)."""
        views = dict(self.views)
        for sid in self.workflow.steps:
            if sid not in views:
                views[sid] = view(None, StepStatus.PENDING)
        return views

    def interrupt(self) -> None:
        """Cancel every step task and wake the scheduler (a cancel request, a lost lease)."""
        for task in self.tasks:
            task.cancel()
        self.wake.set()

    # --- settling a step: each writes the step's final event ----------------------------------

    def succeed(self, sid: str, value: Any, /, **data: Any) -> StepStatus:
        """Record the step's success; `value` is its output, `data` what the event stores of it."""
        self.views[sid] = view(value, StepStatus.SUCCEEDED)
        self.events.emit(EventType.STEP_SUCCEEDED, sid, **data)
        return StepStatus.SUCCEEDED

    def skip(self, sid: str, reason: str) -> StepStatus:
        self.views[sid] = view(None, StepStatus.SKIPPED)
        self.events.emit(EventType.STEP_SKIPPED, sid, reason=reason)
        return StepStatus.SKIPPED

    def fail(self, sid: str, outcome: StepOutcome) -> StepStatus:
        """Record the step's failure, then raise it for the scheduler (a policy refusal: stopped)."""
        failure = outcome.describe(sid)
        del failure["step"]
        extra = {"stopped": True} if isinstance(outcome.error, PolicyError) else {}
        self.events.emit(EventType.STEP_FAILED, sid, **failure, **extra)
        raise outcome

    def restore(self) -> None:
        """Take up what the run's events say was settled, decided and asked before this process."""
        steps = self.workflow.steps
        self.views = {sid: v for sid, v in self.progress.views.items() if sid in steps}
        self.decided = dict(self.progress.decided)
        self.requested = dict(self.progress.requested)
