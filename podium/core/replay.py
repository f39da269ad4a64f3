"""Replay: a run's events folded into what is known of it — the Run that `show` prints, and the
Progress a resume schedules from. The event log is the one source of truth; both derive from it here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from podium.core.calls import Usage
from podium.core.events import Event, EventType, RunStatus, StepStatus
from podium.core.run import Failure, Run, StepResult

_Model = TypeVar("_Model", bound=BaseModel)

Key = tuple[str, int | None]  # (step, foreach item or None)
ToolKey = tuple[str, int | None, int]  # (step, foreach item or None, the call's position among its tools)


class StoredOutputs:
    """Outputs are stored once and referenced: a text reply by its CallFinished's seq, a foreach's
    list by its ItemSucceeded events. This resolves them, for every fold over a run's events."""

    __slots__ = ("items", "replies")

    def __init__(self) -> None:
        self.replies: dict[int, Any] = {}  # CallFinished seq -> reply
        self.items: dict[str, dict[int, Any]] = {}  # foreach outputs, by step and item

    def call_finished(self, event: Event) -> None:
        self.replies[event.seq] = event.data.get("reply")

    def item_succeeded(self, event: Event) -> tuple[int, Any]:
        """The item's index and output, remembered for its step's StepSucceeded."""
        d = event.data
        value = self.replies.get(d["output_ref"]) if "output_ref" in d else d.get("output")
        self.items.setdefault(event.step or "", {})[d["item"]] = value
        return d["item"], value

    def step_succeeded(self, event: Event) -> Any:
        """The output a StepSucceeded stands for."""
        d = event.data
        if "items" in d:
            got = self.items.get(event.step or "", {})
            return [got.get(i) for i in range(d["items"])]
        if "output_ref" in d:
            return self.replies.get(d["output_ref"])
        return d.get("output")


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished call whose reply no step has consumed yet (the crash came before StepSucceeded)."""

    seq: int
    attempt: int
    provider: str
    reply: Any


@dataclass
class Progress:
    """What a run has done so far, as far as scheduling cares.

    `views` holds every settled step (succeeded, skipped) with its output, as templates see it.
    `attempts` is the highest attempt number used per call key, `inflight` the attempt whose
    call started and never ended (a resume re-issues it under the same idempotency key), and
    `replies` the calls that finished but whose result was never recorded as a step's output.
    """

    seq: int = 0
    started: dict[str, Any] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[Key, int] = field(default_factory=dict)
    inflight: dict[Key, int] = field(default_factory=dict)
    replies: dict[Key, Reply] = field(default_factory=dict)
    items: dict[str, dict[int, Any]] = field(default_factory=dict)  # finished foreach items, by step
    requested: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)  # StepFailed data, unsettled steps
    tool_calls: dict[ToolKey, dict[str, Any]] = field(
        default_factory=dict
    )  # finished tool calls (ToolCalled)
    finished: str | None = None  # the status of the last RunFinished, if the run ended

    @property
    def settled(self) -> set[str]:
        return set(self.views)


@contextmanager
def collector_held() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a run's events are read and folded in bulk.

    Reading 40,000 events makes some 100,000 dicts, lists and events that all stay alive: each
    allocation threshold starts a collection that traverses them again, and with a finished run
    of 10,000 steps alive the older generations too, for nothing (they hold no cycles; refcounts
    free whatever is dropped). That was a third of a 10,000-step resume. The collector is
    restored afterwards, only if it was on: nested or concurrent holds leave it as they found it.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def progress(events: Iterable[Event]) -> Progress:
    """Fold a run's events into its Progress: what a resume needs to schedule only what is unfinished."""
    p = Progress()
    outputs = StoredOutputs()
    # Finished calls not yet consumed, as their events: nearly every one is consumed by its step's
    # next event, so a Reply is built only for those left at the end.
    unconsumed: dict[Key, Event] = {}
    for ev in events:
        p.seq = ev.seq
        t, d, sid = ev.type, ev.data, ev.step
        if t is EventType.RUN_STARTED:
            p.started = dict(d)
        elif t is EventType.RUN_RESUMED:
            p.finished = None
        elif t is EventType.RUN_FINISHED:
            p.finished = d.get("status")
        elif sid is None:
            continue
        elif t is EventType.CALL_STARTED:
            key = (sid, d.get("item"))
            p.attempts[key] = max(p.attempts.get(key, 0), ev.attempt or 0)
            p.inflight[key] = ev.attempt or 0
        elif t is EventType.CALL_FINISHED:
            key = (sid, d.get("item"))
            p.inflight.pop(key, None)
            outputs.call_finished(ev)
            if "waiting" in d:  # it stopped for a person's approval of a tool: there is no reply to use
                continue
            unconsumed[key] = ev
        elif t is EventType.CALL_FAILED:
            key = (sid, d.get("item"))
            p.inflight.pop(key, None)
            unconsumed.pop(key, None)  # a rejected reply (output_invalid) must not be reused
        elif t is EventType.ITEM_SUCCEEDED:
            index, _ = outputs.item_succeeded(ev)
            unconsumed.pop((sid, index), None)
        elif t is EventType.STEP_SUCCEEDED or t is EventType.STEP_REJECTED:
            rejected = t is EventType.STEP_REJECTED or bool(d.get("rejected"))  # (older logs: a flag)
            view: dict[str, Any] = {"output": outputs.step_succeeded(ev), "status": str(StepStatus.SUCCEEDED)}
            if rejected:
                view.update(status=str(StepStatus.REJECTED), rejected=True)
            p.views[sid] = view
            p.failed.pop(sid, None)
            for key in [k for k in unconsumed if k[0] == sid]:
                del unconsumed[key]
        elif t is EventType.STEP_SKIPPED:
            p.views[sid] = {"output": None, "status": str(StepStatus.SKIPPED)}
            p.failed.pop(sid, None)
        elif t is EventType.STEP_FAILED:
            p.failed[sid] = dict(d)
        elif t is EventType.TOOL_CALLED:
            p.tool_calls[(sid, d.get("item"), int(d.get("index", 0)))] = dict(d)
        elif t is EventType.APPROVAL_REQUESTED:
            p.requested[sid] = dict(d)
            p.decided.pop(sid, None)  # a step's next tool approval: the last decision was about another
        elif t is EventType.APPROVAL_DECIDED:
            p.decided[sid] = dict(d)
    p.items = outputs.items
    p.replies = {
        key: Reply(ev.seq, ev.attempt or 0, ev.data.get("provider", ""), ev.data.get("reply"))
        for key, ev in unconsumed.items()
    }
    return p


_UNSETTLED = (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING)
_USAGE_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests")


def _new_step(sid: str) -> dict[str, Any]:
    return {
        "id": sid,
        "status": StepStatus.PENDING,
        "calls": 0,
        "failed_calls": 0,
        "tool_calls": 0,
        "attempts": 0,
        "usage": dict.fromkeys(_USAGE_KINDS, 0),
    }


def _defaults(cls: type[BaseModel]) -> dict[str, Any]:
    # Every field with its default, in declaration order (a required field holds None: a fold
    # always gives it). Only immutable defaults are shared between instances: a mutable one (a
    # default_factory) would be shared, so such a class must not come through here.
    out: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if info.default_factory is not None:
            raise TypeError(f"{cls.__name__}.{name} has a default_factory; build it with model_construct")
        out[name] = None if info.is_required() else info.default
    return out


_STEP_DEFAULTS = _defaults(StepResult)
_USAGE_DEFAULTS = _defaults(Usage)


def _assemble(cls: type[_Model], defaults: dict[str, Any], values: dict[str, Any]) -> _Model:
    """`cls.model_construct(**values)` without its per-field default lookups (a deep copy of each
    missing default): 10,000 steps cost 20,000 of these at the end of every fold. The values are
    trusted (the fold made them) and every default is immutable (see `_defaults`)."""
    model = cls.__new__(cls)
    put = object.__setattr__
    put(model, "__dict__", {**defaults, **values})
    put(model, "__pydantic_fields_set__", set(values))
    put(model, "__pydantic_extra__", None)
    put(model, "__pydantic_private__", None)
    return model


def fold(events: Iterable[Event], step_ids: Iterable[str] = ()) -> Run:
    """Replay events into a Run. `step_ids` lists the workflow's steps so unstarted ones show.

    Steps are folded as plain dicts and turned into models once at the end: a fold runs after
    every run and on every `podium show`, and must stay linear and cheap in the number of events.
    """
    run: Run | None = None
    steps: dict[str, dict[str, Any]] = {sid: _new_step(sid) for sid in step_ids}
    total = dict.fromkeys(_USAGE_KINDS, 0)
    outputs = StoredOutputs()
    last_seq = 0  # set on the Run once, at the end: a pydantic attribute write costs ~0.6 µs an event
    for ev in events:
        t = ev.type
        d = ev.data
        if run is None:
            run = Run(run_id=ev.run_id, workflow=str(d.get("workflow", "?")))
        last_seq = ev.seq
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
            if run.status is RunStatus.CANCELLED:  # nothing of a cancelled run is left to happen
                for unsettled in steps.values():
                    if unsettled["status"] in _UNSETTLED:
                        if unsettled["status"] is not StepStatus.PENDING:
                            unsettled["finished_at"] = ev.at
                        unsettled["status"] = StepStatus.CANCELLED
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
            outputs.call_finished(ev)
            if d.get("bound_to"):
                step["bound_to"] = d["bound_to"]
        elif t is EventType.CALL_FAILED:
            step["failed_calls"] += 1
        elif t is EventType.TOOL_CALLED:
            step["tool_calls"] += 1
        elif t is EventType.ITEM_SUCCEEDED:
            outputs.item_succeeded(ev)
        elif t is EventType.STEP_SUCCEEDED or t is EventType.STEP_REJECTED:
            rejected = t is EventType.STEP_REJECTED or bool(d.get("rejected"))
            step["status"] = StepStatus.REJECTED if rejected else StepStatus.SUCCEEDED
            step["error"] = None
            step["output"] = outputs.step_succeeded(ev)
            if d.get("provider"):
                step["provider"] = d["provider"]
            step["finished_at"] = ev.at
        elif t is EventType.STEP_FAILED:
            if d.get("stopped"):
                step["status"] = StepStatus.STOPPED
            elif d.get("kind") == "rejected":
                step["status"] = StepStatus.REJECTED
            else:
                step["status"] = StepStatus.FAILED
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
    run.last_seq = last_seq
    # Usage is frozen, so steps that used the same (most often: one request, no tokens) share one.
    usages: dict[tuple[int, ...], Usage] = {}
    for fields in steps.values():
        counts = fields["usage"]
        key = tuple(counts.values())  # always _USAGE_KINDS, in that order (see _new_step)
        usage = usages.get(key)
        if usage is None:
            usage = usages[key] = _assemble(Usage, _USAGE_DEFAULTS, counts)
        fields["usage"] = usage
    run.steps = {sid: _assemble(StepResult, _STEP_DEFAULTS, fields) for sid, fields in steps.items()}
    run.usage = _assemble(Usage, _USAGE_DEFAULTS, total)
    return run
