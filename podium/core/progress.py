"""A run's progress rebuilt from its events, so that a resume schedules only what is unfinished."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podium.core.events import Event, EventType, StepStatus

Key = tuple[str, int | None]  # (step, foreach item or None)


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
    items: dict[str, dict[int, Any]] = field(default_factory=dict)
    requested: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)  # StepFailed data, unsettled steps
    finished: str | None = None  # the status of the last RunFinished, if the run ended

    @property
    def settled(self) -> set[str]:
        return set(self.views)


def rebuild(events: Iterable[Event]) -> Progress:
    """Fold a run's events into its Progress."""
    p = Progress()
    call_replies: dict[int, Any] = {}
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
            call_replies[ev.seq] = d.get("reply")
            p.replies[key] = Reply(ev.seq, ev.attempt or 0, d.get("provider", ""), d.get("reply"))
        elif t is EventType.CALL_FAILED:
            key = (sid, d.get("item"))
            p.inflight.pop(key, None)
            p.replies.pop(key, None)  # a rejected reply (output_invalid) must not be reused
        elif t is EventType.ITEM_SUCCEEDED:
            index = d["item"]
            output = call_replies.get(d["output_ref"]) if "output_ref" in d else d.get("output")
            p.items.setdefault(sid, {})[index] = output
            p.replies.pop((sid, index), None)
        elif t is EventType.STEP_SUCCEEDED:
            if "items" in d:
                got = p.items.get(sid, {})
                output = [got.get(i) for i in range(d["items"])]
            elif "output_ref" in d:
                output = call_replies.get(d["output_ref"])
            else:
                output = d.get("output")
            view = {"output": output, "status": str(StepStatus.SUCCEEDED)}
            if d.get("rejected"):
                view["rejected"] = True
            p.views[sid] = view
            p.failed.pop(sid, None)
            for key in [k for k in p.replies if k[0] == sid]:
                del p.replies[key]
        elif t is EventType.STEP_SKIPPED:
            p.views[sid] = {"output": None, "status": str(StepStatus.SKIPPED)}
            p.failed.pop(sid, None)
        elif t is EventType.STEP_FAILED:
            p.failed[sid] = dict(d)
        elif t is EventType.APPROVAL_REQUESTED:
            p.requested[sid] = dict(d)
        elif t is EventType.APPROVAL_DECIDED:
            p.decided[sid] = dict(d)
    return p
