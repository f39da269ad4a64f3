"""Run: the state of a run, folded from its events (the store is the source of truth)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from podium.core.calls import ZERO_USAGE, Usage
from podium.core.events import Event, EventType, RunStatus, StepStatus


class Failure(BaseModel):
    """Why a step (or a run) failed, as recorded."""

    step: str | None = None
    kind: str
    message: str
    fix: str | None = None
    provider: str | None = None


class StepResult(BaseModel):
    """One step of a run: status, output, error, attempts, timings and usage."""

    id: str
    status: StepStatus = StepStatus.PENDING
    agent: str | None = None
    provider: str | None = None
    output: Any = None
    error: Failure | None = None
    reason: str | None = Field(None, description="Why the step was skipped.")
    approval: dict[str, Any] | None = Field(
        None, description="For an approval step: what was asked (message, fields, deadline) and the decision."
    )
    attempts: int = 0
    calls: int = 0
    failed_calls: int = 0
    items: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    usage: Usage = ZERO_USAGE

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None


class Run(BaseModel):
    """A run as its events tell it. `podium.run()` returns one; `podium show` prints one."""

    run_id: str
    workflow: str
    status: RunStatus = RunStatus.RUNNING
    file: str | None = None
    file_hash: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepResult] = Field(default_factory=dict)
    error: Failure | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    usage: Usage = ZERO_USAGE
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def __repr__(self) -> str:
        # short: asyncio.run() reprs its result on the way out, and a 10,000-step repr costs 0.1 s
        return f"Run(run_id={self.run_id!r}, workflow={self.workflow!r}, status={str(self.status)!r})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None

    def to_json(self) -> dict[str, Any]:
        """The stable `--json` shape: run_id, workflow, status, started_at, outputs, steps, usage."""
        data = self.model_dump(mode="json", exclude={"last_seq"})
        for sid, step in self.steps.items():
            data["steps"][sid]["duration_ms"] = step.duration_ms
        data["duration_ms"] = self.duration_ms
        return data


_USAGE_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests")


def _new_step(sid: str) -> dict[str, Any]:
    return {
        "id": sid,
        "status": StepStatus.PENDING,
        "calls": 0,
        "failed_calls": 0,
        "attempts": 0,
        "usage": dict.fromkeys(_USAGE_KINDS, 0),
    }


def fold(events: Iterable[Event], step_ids: Iterable[str] = ()) -> Run:
    """Replay events into a Run. `step_ids` lists the workflow's steps so unstarted ones show.

    Steps are folded as plain dicts and turned into models once at the end: a fold runs after
    every run and on every `podium show`, and must stay linear and cheap in the number of events.
    """
    run: Run | None = None
    steps: dict[str, dict[str, Any]] = {sid: _new_step(sid) for sid in step_ids}
    total = dict.fromkeys(_USAGE_KINDS, 0)
    replies: dict[int, Any] = {}  # CallFinished seq -> reply, for outputs stored by reference
    items: dict[str, dict[int, Any]] = {}  # foreach outputs, by step and item
    for ev in events:
        t = ev.type
        d = ev.data
        if run is None:
            run = Run(run_id=ev.run_id, workflow=str(d.get("workflow", "?")))
        run.last_seq = ev.seq
        if t is EventType.RUN_STARTED:
            run.status = RunStatus.RUNNING
            run.file = d.get("file")
            run.file_hash = d.get("file_hash")
            run.inputs = d.get("inputs", {})
            run.started_at = run.started_at or ev.at
            run.finished_at = None
            for sid in d.get("steps", ()):
                if sid not in steps:
                    steps[sid] = _new_step(sid)
            continue
        if t is EventType.RUN_RESUMED:
            run.status = RunStatus.RUNNING
            run.finished_at = None
            run.error = None
            continue
        if t is EventType.RUN_FINISHED:
            run.status = RunStatus(d.get("status", "failed"))
            run.outputs = d.get("outputs") or {}
            run.error = Failure(**d["error"]) if d.get("error") else None
            run.finished_at = ev.at
            continue
        if t is EventType.RUN_WAITING:
            run.status = RunStatus.WAITING
            continue
        if t is EventType.RUN_STOPPED:
            run.status = RunStatus.STOPPED
            run.error = Failure(**d["error"]) if d.get("error") else None
            continue
        if ev.step is None:
            continue
        step = steps.get(ev.step)
        if step is None:
            step = steps[ev.step] = _new_step(ev.step)
        if t is EventType.STEP_STARTED:
            step["status"] = StepStatus.RUNNING
            step["agent"] = d.get("agent")
            step["items"] = d.get("items")
            step["started_at"] = ev.at
        elif t is EventType.CALL_STARTED:
            step["calls"] += 1
            step["attempts"] = max(step["attempts"], ev.attempt or 0)
            step["provider"] = d.get("provider")
        elif t is EventType.CALL_FINISHED:
            usage = d.get("usage") or {}
            mine = step["usage"]
            for kind in _USAGE_KINDS:
                n = usage.get(kind, 0)
                mine[kind] += n
                total[kind] += n
            replies[ev.seq] = d.get("reply")
        elif t is EventType.CALL_FAILED:
            step["failed_calls"] += 1
        elif t is EventType.ITEM_SUCCEEDED:
            value = replies.get(d["output_ref"]) if "output_ref" in d else d.get("output")
            items.setdefault(ev.step, {})[d["item"]] = value
        elif t is EventType.STEP_SUCCEEDED:
            step["status"] = StepStatus.SUCCEEDED
            step["error"] = None
            if "items" in d:
                got = items.get(ev.step, {})
                step["output"] = [got.get(i) for i in range(d["items"])]
            elif "output_ref" in d:
                step["output"] = replies.get(d["output_ref"])
            else:
                step["output"] = d.get("output")
            if d.get("provider"):
                step["provider"] = d["provider"]
            step["finished_at"] = ev.at
        elif t is EventType.STEP_FAILED:
            step["status"] = StepStatus.STOPPED if d.get("stopped") else StepStatus.FAILED
            step["error"] = Failure(step=ev.step, **{k: v for k, v in d.items() if k != "stopped"})
            step["finished_at"] = ev.at
        elif t is EventType.APPROVAL_REQUESTED:
            step["status"] = StepStatus.WAITING
            step["approval"] = {"request": dict(d), "decision": None}
        elif t is EventType.APPROVAL_DECIDED:
            step["approval"] = {**(step.get("approval") or {}), "decision": dict(d)}
        elif t is EventType.STEP_SKIPPED:
            step["status"] = StepStatus.SKIPPED
            step["reason"] = d.get("reason")
            step["finished_at"] = ev.at
    if run is None:
        raise ValueError("a run needs at least one event")
    run.steps = {
        sid: StepResult.model_construct(**{**fields, "usage": Usage.model_construct(**fields["usage"])})
        for sid, fields in steps.items()
    }
    run.usage = Usage.model_construct(**total)
    return run
