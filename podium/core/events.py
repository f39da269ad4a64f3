"""The event types of a run: every state change is one of these, appended to the store first."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any


class EventType(StrEnum):
    """What happened. The `data` each carries is listed beside it."""

    RUN_STARTED = "RunStarted"  # workflow, file, file_hash, inputs, steps, bindings, provider_override
    RUN_RESUMED = "RunResumed"  # owner, file_hash, changed (the file differs from the start), settings
    STEP_STARTED = "StepStarted"  # agent, items (foreach count or null)
    CALL_STARTED = "CallStarted"  # provider, model, agent, item, idempotency_key, session_id, prompt, repair
    # provider, model, item, usage, latency_ms, response_id, session_id, reply, native; waiting (the
    # tool call it stopped at, to wait for a person's approval: no reply, the usage so far)
    CALL_FINISHED = "CallFinished"
    # provider, item, kind, message, retryable, retry_after, delay, then: what follows (retry, repair,
    # fallback:<provider>, fail, cancel)
    CALL_FAILED = "CallFailed"
    # item, index (the call's position among its request's tool calls), idempotency_key, name,
    # arguments, result, text (what the agent was sent), error (the agent was sent a tool error),
    # started_at, duration_ms: a finished tool call; a resume replays it rather than running it again
    TOOL_CALLED = "ToolCalled"
    ITEM_SUCCEEDED = "ItemSucceeded"  # item, output (or output_ref): one finished item of a foreach
    # output (stored once: here, or as output_ref, the seq of the CallFinished whose reply it is)
    STEP_SUCCEEDED = "StepSucceeded"
    STEP_FAILED = "StepFailed"  # kind, message, fix, provider
    STEP_SKIPPED = "StepSkipped"  # reason
    # output (decision, by, comment, fields): a rejected approval that a step of the workflow handles
    STEP_REJECTED = "StepRejected"
    # message, fields, deadline, on_timeout; for a tool marked approval: true, also tool {name,
    # arguments, item, index} (the step's own call waits for it)
    APPROVAL_REQUESTED = "ApprovalRequested"
    APPROVAL_DECIDED = "ApprovalDecided"  # decision (approved|rejected), by, comment, fields
    BUDGET_WARNING = "BudgetWarning"
    RUN_WAITING = "RunWaiting"
    RUN_STOPPED = "RunStopped"  # reason, kind, step
    RUN_FINISHED = "RunFinished"  # status, outputs, error {step, kind, message}


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    WAITING = "waiting"
    STOPPED = "stopped"
    # never recorded: a run whose events say running, but no live process drives it (killed)
    INTERRUPTED = "interrupted"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    STOPPED = "stopped"  # a policy (a budget) refused its call; a resume runs it
    REJECTED = "rejected"  # an approval a person (or its timeout) rejected
    CANCELLED = "cancelled"  # unsettled when its run was cancelled; a resume runs it
    # never recorded: in flight when its run's process died (the run is interrupted); a resume
    # finishes it, reusing a reply the log already holds
    INTERRUPTED = "interrupted"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only log: `(run_id, seq, at, type, step, attempt, data)`."""

    run_id: str
    seq: int
    type: EventType
    step: str | None = None
    attempt: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)

    def data_json(self) -> str:
        return encode_data(self.data)

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-able values (for `podium show --events --json`, JSONL export)."""
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "at": self.at.isoformat(),
            "type": str(self.type),
            "step": self.step,
            "attempt": self.attempt,
            "data": json.loads(self.data_json()),
        }


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


# one encoder for every event (json.dumps with options builds a new one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_jsonable)
# the same C encoder made once, without the reference-cycle bookkeeping (a dict of every container
# it enters, made again for each call by `_ENCODER.encode`): a third of an event's encoding
_FAST = (
    c_make_encoder(None, _jsonable, c_encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None and c_encode_basestring is not None
    else None
)


def encode_data(data: dict[str, Any]) -> str:
    """An event's data as the compact JSON text the stores keep (one encoding per event)."""
    if _FAST is not None:
        try:
            return "".join(_FAST(data, 0))
        except RecursionError:
            pass  # a cycle, or data nested deeper than the C encoder goes: the checked encoder says which
    return _ENCODER.encode(data)
