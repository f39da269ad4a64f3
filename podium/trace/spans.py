"""Spans from run events: one fold turns a run's log into a tree of OpenTelemetry GenAI spans.

The same fold serves a live export (feed each event as it happens; `feed` returns the spans it
ended) and an export from the store (feed them all; `spans()`). Ids come from
`podium.core.tracecontext`, so a span's id is the one its cloud call carried in ``traceparent``.

The tree: the run (``invoke_workflow``) → its steps → a foreach step's items → attempts → agent
calls (``invoke_agent`` or ``chat``) → what the cloud did inside the call (Bedrock's
pre-processing and orchestration steps and their model invocations, Vertex agent events) and tool
calls (``execute_tool``). Approvals and budget warnings and stops are spans too. Prompts, replies,
outputs and tool arguments are added only with ``content=True``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from podium.core.events import Event, EventType
from podium.core.tracecontext import call_key, span_id, trace_id

SpanKind = Literal["run", "step", "item", "attempt", "call", "inner", "tool", "approval", "budget"]
Status = Literal["ok", "error", "unset"]

# gen_ai.provider.name of podium's built-in providers (the convention's own values where it has one)
PROVIDER_NAMES: dict[str, str] = {
    "bedrock": "aws.bedrock",
    "vertex": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
    "local": "podium.local",
}
# attributes that carry what people and agents said: exported only with --include-content
CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "podium.inputs",
        "podium.output",
        "podium.outputs",
        "podium.approval.fields",
        "podium.bedrock.rationale",
    }
)


class SpanEvent(BaseModel):
    """Something that happened at one moment of a span (a resume, a retry's wait, an exception)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    time: datetime
    attributes: dict[str, Any] = Field(default_factory=dict)


class Span(BaseModel):
    """One span of a run's trace, as every exporter writes it (the JSONL line's fields).

    `end_time` is None for a span still open (a step running when the trace was taken);
    `status` is ``ok``, ``error`` (with `status_message`: the cause) or ``unset`` (neither: a
    skipped step, a run waiting for a person).
    """

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    start_time: datetime
    end_time: datetime | None
    status: Status = "unset"
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[SpanEvent] = Field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds() * 1000


@dataclass(slots=True)
class _Open:
    key: str
    parent: str | None
    name: str
    kind: SpanKind
    start: datetime
    end: datetime | None = None
    status: Status = "unset"
    message: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)


# parents before children when they start at the same moment
_DEPTH = {
    "run": 0,
    "step": 1,
    "approval": 2,
    "budget": 2,
    "item": 2,
    "attempt": 3,
    "call": 4,
    "inner": 5,
    "tool": 6,
}

# the kinds of span a resumed run may start again under the same key (attempts and calls never repeat)
_RESTARTABLE = frozenset({"run", "step", "item", "approval"})

AttributesHook = Callable[[Event], Mapping[str, Any] | None]


class TraceFold:
    """Folds one run's events, in order, into spans.

    `attributes(event)` adds attributes to the span an event ends (the cost plugin adds each
    call's price through the ``podium_span_attributes`` hook); `provider_names` maps podium's
    provider names to ``gen_ai.provider.name`` beyond the built-ins'.
    """

    def __init__(
        self,
        *,
        content: bool = False,
        attributes: AttributesHook | None = None,
        provider_names: Mapping[str, str] | None = None,
    ) -> None:
        self.content = content
        self.hook = attributes
        self.provider_names = {**PROVIDER_NAMES, **(provider_names or {})}
        self.run_id: str | None = None
        self.trace_id = ""
        self.workflow = "?"
        self.open: dict[str, _Open] = {}
        self.done: list[Span] = []
        self.last: datetime | None = None
        self.status: str = "running"
        # spans a resumed run can start again (the run, a step that failed or was cancelled, its
        # items, its approval): ended ones are kept by key, so starting one again reopens it
        self._ended: dict[str, tuple[_Open, Span]] = {}
        # (step, item, attempt) → the key of its open call span; the keys of each step's children
        self._calls: dict[tuple[str | None, Any, Any], str] = {}
        self._children: dict[str, list[str]] = {}
        self._replies: dict[int, Any] = {}  # CallFinished seq → reply (content only: output_ref)
        self._totals = {"input_tokens": 0, "output_tokens": 0, "calls": 0, "failed_calls": 0}
        self._cost = Decimal(0)
        self._unpriced = 0
        self._step_cost: dict[str, Decimal] = {}  # what each step's calls cost, on the step's span
        self._batch: list[Span] = []  # the spans the event being fed has ended

    # --- the fold --------------------------------------------------------------------------------

    def feed(self, event: Event) -> list[Span]:
        """Take the run's next event; return the spans it ended."""
        if self.run_id is None:
            self.run_id = event.run_id
            self.trace_id = trace_id(event.run_id)
        self.last = event.at if self.last is None else max(self.last, event.at)
        extra = dict(self.hook(event) or {}) if self.hook is not None else {}
        handler = _HANDLERS.get(event.type)
        ended = self._batch = []  # every span this event ends lands here, inner steps' and tools' too
        if handler is not None:
            handler(self, event, extra, ended)
        return ended

    def spans(self) -> list[Span]:
        """Every span so far: the ended ones, then those still open (with no end), by start."""
        spans = self.done + [self._freeze(o) for o in self.open.values()]
        return sorted(spans, key=lambda s: (s.start_time, _DEPTH[s.kind]))

    def close_all(self, at: datetime | None = None) -> list[Span]:
        """End every open span at `at` (default: the last event's time), marked unfinished."""
        at = at or self.last or datetime.now(UTC)
        ended: list[Span] = []
        for key in [k for k in self.open if k != "run"] + (["run"] if "run" in self.open else []):
            span = self.open.get(key)
            if span is None:
                continue
            span.attributes.setdefault("podium.unfinished", True)
            ended.append(self._end(key, at))
        return ended

    # --- helpers ---------------------------------------------------------------------------------

    def _id(self, key: str) -> str:
        assert self.run_id is not None
        return span_id(self.run_id, key)

    def _start(
        self,
        key: str,
        parent: str | None,
        name: str,
        kind: SpanKind,
        at: datetime,
        attributes: dict[str, Any] | None = None,
    ) -> _Open:
        span = self.open.get(key)
        if span is not None:
            return span
        again = self._ended.pop(key, None)
        if again is not None:
            # one span per run, step or item, from its first start to its last end: a live export
            # sends it again, with the same id, when it ends again
            span, frozen = again
            self.done.remove(frozen)
            span.end, span.status, span.message = None, "unset", None
        else:
            span = _Open(key, parent, name, kind, at, attributes=attributes or {})
        self.open[key] = span
        if span.parent is not None:
            self._children.setdefault(span.parent, []).append(key)
        return span

    def _freeze(self, span: _Open) -> Span:
        assert self.run_id is not None
        # built from the fold's own values, so not validated again (a trace may hold 100,000 spans)
        return Span.model_construct(
            trace_id=self.trace_id,
            span_id=self._id(span.key),
            parent_span_id=None if span.parent is None else self._id(span.parent),
            name=span.name,
            kind=span.kind,
            start_time=span.start,
            end_time=span.end,
            status=span.status,
            status_message=span.message,
            attributes=span.attributes,
            events=span.events,
        )

    def _end(self, key: str, at: datetime, ended: list[Span] | None = None) -> Span:
        """End the span `key` and its still-open children (at the same moment); returns it."""
        for child in self._children.pop(key, []):
            if child in self.open:
                self.open[child].attributes.setdefault("podium.unfinished", True)
                self._end(child, max(at, self.open[child].start), ended)
        span = self.open.pop(key)
        span.end = max(at, span.start)
        frozen = self._freeze(span)
        self.done.append(frozen)
        self._batch.append(frozen)
        if span.kind in _RESTARTABLE:
            self._ended[key] = (span, frozen)
        return frozen

    def _step(self, event: Event) -> _Open:
        sid = str(event.step)
        attrs = {"podium.step": sid}
        return self._start(f"step:{sid}", self._ensure_run(event), f"step {sid}", "step", event.at, attrs)

    def _ensure_run(self, event: Event) -> str:
        """The run's span, open: started by the first event seen, reopened by a resume after it ended."""
        self._start("run", None, "invoke_workflow", "run", event.at, {"podium.run_id": event.run_id})
        return "run"

    def _parent_of_unit(self, event: Event, item: Any) -> str:
        step = self._step(event)
        if item is None:
            return step.key
        key = f"item:{event.step}:{item}"
        self._start(
            key, step.key, f"item {item}", "item", event.at, {"podium.step": event.step, "podium.item": item}
        )
        return key

    def _set_content(self, span: _Open, name: str, value: Any) -> None:
        if self.content and value is not None:
            span.attributes[name] = value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _messages(role: str, text: Any) -> str:
    content = text if isinstance(text, str) else _json(text)
    return _json([{"role": role, "parts": [{"type": "text", "content": content}]}])


def _time(value: Any, default: datetime) -> datetime:
    """A time from a cloud's trace (ISO 8601 text, or seconds since the epoch), else `default`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


# --- one handler per event type ---------------------------------------------------------------


def _run_started(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    f.workflow = str(d.get("workflow") or "?")
    run = f._start("run", None, f"invoke_workflow {f.workflow}", "run", e.at)
    run.name = f"invoke_workflow {f.workflow}"
    run.attributes.update(
        {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": f.workflow,
            "podium.workflow": f.workflow,
            "podium.run_id": e.run_id,
            "podium.file": d.get("file"),
            "podium.status": "running",
            **extra,
        }
    )
    if d.get("provider_override"):
        run.attributes["podium.provider_override"] = d["provider_override"]
    f._set_content(run, "podium.inputs", d.get("inputs"))
    run.attributes = {k: v for k, v in run.attributes.items() if v is not None}


def _run_resumed(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    f._ensure_run(e)
    f.status = "running"
    attrs = {"podium.owner": e.data.get("owner"), "podium.changed": bool(e.data.get("changed"))}
    f.open["run"].events.append(SpanEvent(name="resumed", time=e.at, attributes=attrs))
    f.open["run"].attributes["podium.status"] = "running"


def _step_started(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    step = f._step(e)
    d = e.data
    if d.get("agent"):
        step.attributes["podium.agent"] = d["agent"]
    if d.get("items") is not None:
        step.attributes["podium.items"] = d["items"]
    step.attributes.update(extra)


def _call_started(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    item = d.get("item")
    parent = f._parent_of_unit(e, item)
    unit = (e.step, item, e.attempt)
    attempt_key = f"attempt:{e.step}:{'' if item is None else item}:{e.attempt}"
    attempt = f._start(
        attempt_key, parent, f"attempt {e.attempt}", "attempt", e.at,
        {"podium.step": e.step, "podium.attempt": e.attempt},
    )  # fmt: skip
    if item is not None:
        attempt.attributes["podium.item"] = item
    provider = str(d.get("provider") or "?")
    agent = d.get("agent")
    key = call_key(e.seq)
    call = f._start(key, attempt_key, f"invoke_agent {agent}", "call", e.at)
    call.attributes.update(
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": f.provider_names.get(provider, provider),
            "gen_ai.agent.name": agent,
            "podium.provider": provider,
            "podium.workflow": f.workflow,
            "podium.run_id": e.run_id,
            "podium.step": e.step,
            "podium.attempt": e.attempt,
            "podium.idempotency_key": d.get("idempotency_key"),
        }
    )
    if item is not None:
        call.attributes["podium.item"] = item
    if d.get("model"):
        call.attributes["gen_ai.request.model"] = d["model"]
    if d.get("session_id"):
        call.attributes["gen_ai.conversation.id"] = d["session_id"]
    if d.get("repair"):
        call.attributes["podium.repair"] = True
    call.attributes.update(extra)
    call.attributes = {k: v for k, v in call.attributes.items() if v is not None}
    if f.content and d.get("prompt") is not None:
        call.attributes["gen_ai.input.messages"] = _messages("user", d["prompt"])
    f._calls[unit] = key


def _open_call(f: TraceFold, e: Event) -> _Open | None:
    key = f._calls.pop((e.step, e.data.get("item"), e.attempt), None)
    return None if key is None else f.open.get(key)


def _call_finished(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    call = _open_call(f, e)
    if call is None:  # its CallStarted came before the events this trace has (a live resume)
        _call_started(f, Event(e.run_id, e.seq, EventType.CALL_STARTED, e.step, e.attempt, d, e.at), {}, [])
        call = _open_call(f, e)
        assert call is not None
    usage = d.get("usage") or {}
    bound = d.get("bound_to") or {}
    attrs = call.attributes
    if bound.get("kind") == "model":
        attrs["gen_ai.operation.name"] = "chat"
        call.name = f"chat {d.get('model') or attrs.get('gen_ai.request.model') or ''}".strip()
    elif bound.get("kind") in ("agent", "engine") and bound.get("id"):  # a managed agent: its id
        attrs["gen_ai.agent.id"] = bound["id"]
    if bound:
        attrs.update({f"podium.bound_to.{k}": v for k, v in bound.items() if v is not None})
    if d.get("model"):
        attrs["gen_ai.response.model"] = d["model"]
    if d.get("response_id"):
        attrs["gen_ai.response.id"] = d["response_id"]
    if d.get("session_id"):
        attrs["gen_ai.conversation.id"] = d["session_id"]
    attrs["gen_ai.usage.input_tokens"] = int(usage.get("input_tokens") or 0)
    attrs["gen_ai.usage.output_tokens"] = int(usage.get("output_tokens") or 0)
    if usage.get("cache_read_tokens"):
        attrs["gen_ai.usage.cache_read.input_tokens"] = int(usage["cache_read_tokens"])
    if usage.get("cache_write_tokens"):
        attrs["gen_ai.usage.cache_creation.input_tokens"] = int(usage["cache_write_tokens"])
    if d.get("latency_ms") is not None:
        attrs["podium.latency_ms"] = round(float(d["latency_ms"]), 3)
    native = d.get("native") if isinstance(d.get("native"), Mapping) else {}
    if native.get("usage_unknown"):
        attrs["podium.usage_unknown"] = True
    reasons = _finish_reasons(native)
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    attrs.update(extra)
    call.status = "ok"
    if f.content:
        attrs["gen_ai.output.messages"] = _messages("assistant", d.get("reply"))
        f._replies[e.seq] = d.get("reply")
    f._totals["calls"] += 1
    f._totals["input_tokens"] += attrs["gen_ai.usage.input_tokens"]
    f._totals["output_tokens"] += attrs["gen_ai.usage.output_tokens"]
    _add_cost(f, attrs, str(e.step))
    end = e.at
    _native_spans(f, call, native, end)
    attempt = f.open.get(call.parent or "")
    frozen = f._end(call.key, end, ended)
    if attempt is not None:
        attempt.status = "ok"
        attempt.end = frozen.end_time


def _add_cost(f: TraceFold, attrs: Mapping[str, Any], step: str) -> None:
    cost = attrs.get("podium.cost_usd")
    if isinstance(cost, str):
        with contextlib.suppress(InvalidOperation):
            amount = Decimal(cost)
            f._cost += amount
            f._step_cost[step] = f._step_cost.get(step, Decimal(0)) + amount
    if attrs.get("podium.unpriced"):
        f._unpriced += 1


def _finish_reasons(native: Mapping[str, Any]) -> list[str]:
    for key in ("stop_reason", "finish_reason", "status"):
        value = native.get(key)
        if isinstance(value, str) and value:
            return [value]
    return []


def _call_failed(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    kind = str(d.get("kind") or "error")
    message = str(d.get("message") or kind)
    call = _open_call(f, e) if e.attempt is not None else None
    unit = f.open.get(f"attempt:{e.step}:{'' if d.get('item') is None else d.get('item')}:{e.attempt}")
    if call is None and unit is not None:
        # the call answered, but its reply failed validation at the handoff
        call = f._start(f"check:{e.seq}", unit.key, "validate output", "inner", e.at)
    elif call is None:
        # no call was made (its provider could not be set up), or it began before this trace
        parent = f._parent_of_unit(e, d.get("item"))
        provider = str(d.get("provider") or "?")
        call = f._start(
            f"failed:{e.seq}", parent, f"invoke_agent {provider}", "call", e.at,
            {"gen_ai.operation.name": "invoke_agent", "podium.provider": provider,
             "gen_ai.provider.name": f.provider_names.get(provider, provider)},
        )  # fmt: skip
    call.status = "error"
    call.message = message
    call.attributes["error.type"] = kind
    call.attributes["podium.then"] = d.get("then")
    for name in ("retry_after", "delay", "fix"):
        if d.get(name) is not None:
            call.attributes[f"podium.{name}"] = d[name]
    if d.get("traceback"):
        call.events.append(
            SpanEvent(
                name="exception",
                time=e.at,
                attributes={
                    "exception.type": kind,
                    "exception.message": message,
                    "exception.stacktrace": str(d["traceback"]),
                },
            )
        )
    call.attributes.update(extra)
    call.attributes = {k: v for k, v in call.attributes.items() if v is not None}
    f._totals["failed_calls"] += 1
    attempt = f.open.get(call.parent or "")
    frozen = f._end(call.key, e.at, ended)
    if attempt is not None and attempt.kind == "attempt":
        attempt.status = "error"
        attempt.message = message
        attempt.end = frozen.end_time


def _end_units(f: TraceFold, parent: str, at: datetime, ended: list[Span]) -> None:
    """End the attempts (and items) under `parent` at the end of their last call."""
    for child in list(f._children.get(parent, [])):
        span = f.open.get(child)
        if span is None:
            continue
        if span.kind == "item":
            _end_units(f, child, at, ended)
        f._end(child, span.end or at, ended)


def _item_succeeded(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    key = f"item:{e.step}:{d.get('item')}"
    item = f.open.get(key)
    if item is None:
        return
    item.status = "ok"
    _output(f, item, d)
    _end_units(f, key, e.at, ended)
    f._end(key, e.at, ended)


def _output(f: TraceFold, span: _Open, d: Mapping[str, Any]) -> None:
    if not f.content:
        return
    if "output" in d:
        f._set_content(span, "podium.output", d["output"])
    elif d.get("output_ref") is not None:
        f._set_content(span, "podium.output", f._replies.get(int(d["output_ref"])))


def _step_ended(status: Status, label: str) -> Callable[[TraceFold, Event, dict[str, Any], list[Span]], None]:
    def handle(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
        d = e.data
        step = f._step(e)
        step.status = status
        # a failure that is a person's rejection, or a budget's stop, is called what `show` calls it
        step.attributes["podium.status"] = (
            ("stopped" if d.get("stopped") else "rejected" if d.get("kind") == "rejected" else label)
            if label == "failed"
            else label
        )
        if d.get("provider"):
            step.attributes["podium.provider"] = d["provider"]
        if label == "failed":
            step.message = str(d.get("message") or d.get("kind") or "failed")
            step.attributes["error.type"] = str(d.get("kind") or "error")
            if d.get("fix"):
                step.attributes["podium.fix"] = d["fix"]
        elif label == "skipped":
            step.attributes["podium.reason"] = d.get("reason")
        elif label == "rejected":
            out = d.get("output") or {}
            by = out.get("by") if isinstance(out, Mapping) else None
            step.message = f"rejected by {by}" if by else "rejected"
            step.attributes["error.type"] = "rejected"
        else:
            _output(f, step, d)
        if step.key[5:] in f._step_cost:
            step.attributes["podium.cost_usd"] = str(f._step_cost[step.key[5:]])
        step.attributes.update(extra)
        step.attributes = {k: v for k, v in step.attributes.items() if v is not None}
        _end_units(f, step.key, e.at, ended)
        f._end(step.key, e.at, ended)

    return handle


def _approval_requested(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    step = f._step(e)
    span = f._start(f"approval:{e.step}", step.key, f"approval {e.step}", "approval", e.at)
    span.attributes.update({"podium.step": e.step, "podium.approval.message": d.get("message")})
    if d.get("deadline"):
        span.attributes["podium.approval.deadline"] = str(d["deadline"])
    if d.get("on_timeout"):
        span.attributes["podium.approval.on_timeout"] = d["on_timeout"]
    span.attributes = {k: v for k, v in span.attributes.items() if v is not None}
    step.attributes["podium.status"] = "waiting"  # for a person, not running (its end says what came of it)


def _approval_decided(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    key = f"approval:{e.step}"
    span = f.open.get(key)
    if span is None:
        span = f._start(key, f._step(e).key, f"approval {e.step}", "approval", e.at, {"podium.step": e.step})
    decision = str(d.get("decision") or "?")
    span.attributes.update(
        {
            "podium.approval.decision": decision,
            "podium.approval.by": d.get("by"),
            "podium.approval.comment": d.get("comment"),
            "podium.approval.decided_at": e.at.isoformat(),
            **extra,
        }
    )
    f._set_content(span, "podium.approval.fields", d.get("fields") or None)
    span.attributes = {k: v for k, v in span.attributes.items() if v is not None}
    if decision == "approved":
        span.status = "ok"
    else:
        span.status = "error"
        span.message = f"{decision} by {d.get('by')}" if d.get("by") else decision
    f._end(key, e.at, ended)


def _budget_warning(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    parent = f._step(e).key if e.step else f._ensure_run(e)
    attrs = {f"podium.budget.{k}": v for k, v in d.items() if v is not None and k != "message"}
    span = f._start(f"budget:{e.seq}", parent, "budget warning", "budget", e.at, attrs)
    span.message = str(d.get("message") or "") or None
    span.attributes["podium.budget.message"] = d.get("message")
    span.attributes.update(extra)
    f._end(span.key, e.at, ended)


def _run_waiting(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    f._ensure_run(e)
    f.status = "waiting"
    f.open["run"].attributes["podium.status"] = "waiting"
    f.open["run"].events.append(SpanEvent(name="waiting", time=e.at, attributes={}))


def _run_stopped(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    f._ensure_run(e)
    f.status = "stopped"
    error = d.get("error") if isinstance(d.get("error"), Mapping) else {}
    reason = str(d.get("reason") or error.get("message") or "stopped")
    kind = str(error.get("kind") or "stopped")
    parent = f._step(e).key if e.step else "run"
    name = "budget stop" if "budget" in kind else "run stopped"
    span = f._start(f"stop:{e.seq}", parent, name, "budget", e.at, {"error.type": kind})
    span.status, span.message = "error", reason
    span.attributes.update(extra)
    f._end(span.key, e.at, ended)
    run = f.open["run"]
    run.attributes["podium.status"] = "stopped"
    run.events.append(SpanEvent(name="stopped", time=e.at, attributes={"podium.reason": reason}))


def _run_finished(f: TraceFold, e: Event, extra: dict[str, Any], ended: list[Span]) -> None:
    d = e.data
    f._ensure_run(e)
    status = str(d.get("status") or "failed")
    f.status = status
    run = f.open["run"]
    run.attributes["podium.status"] = status
    run.attributes.update(_totals(f))
    run.attributes.update(extra)
    error = d.get("error") if isinstance(d.get("error"), Mapping) else None
    if status == "succeeded":
        run.status = "ok"
        f._set_content(run, "podium.outputs", d.get("outputs") or None)
    elif status == "failed":
        run.status = "error"
        run.message = str((error or {}).get("message") or "failed")
        if error and error.get("kind"):
            run.attributes["error.type"] = error["kind"]
        if error and error.get("step"):
            run.attributes["podium.failed_step"] = error["step"]
    else:
        run.message = status
    if status == "cancelled":  # what was under way was cancelled, as `show` says; nothing is left running
        for span in f.open.values():
            if span.kind == "step":
                span.attributes["podium.status"] = "cancelled"
                span.message = "cancelled"
    f._end("run", e.at, ended)


def _totals(f: TraceFold) -> dict[str, Any]:
    t = f._totals
    out: dict[str, Any] = {
        "gen_ai.usage.input_tokens": t["input_tokens"],
        "gen_ai.usage.output_tokens": t["output_tokens"],
        "podium.calls": t["calls"],
        "podium.failed_calls": t["failed_calls"],
        "podium.cost_usd": str(f._cost),
    }
    if f._unpriced:
        out["podium.unpriced_calls"] = f._unpriced
    return out


_HANDLERS: dict[EventType, Callable[[TraceFold, Event, dict[str, Any], list[Span]], None]] = {
    EventType.RUN_STARTED: _run_started,
    EventType.RUN_RESUMED: _run_resumed,
    EventType.STEP_STARTED: _step_started,
    EventType.CALL_STARTED: _call_started,
    EventType.CALL_FINISHED: _call_finished,
    EventType.CALL_FAILED: _call_failed,
    EventType.ITEM_SUCCEEDED: _item_succeeded,
    EventType.STEP_SUCCEEDED: _step_ended("ok", "succeeded"),
    EventType.STEP_FAILED: _step_ended("error", "failed"),
    EventType.STEP_SKIPPED: _step_ended("unset", "skipped"),
    EventType.STEP_REJECTED: _step_ended("error", "rejected"),
    EventType.APPROVAL_REQUESTED: _approval_requested,
    EventType.APPROVAL_DECIDED: _approval_decided,
    EventType.BUDGET_WARNING: _budget_warning,
    EventType.RUN_WAITING: _run_waiting,
    EventType.RUN_STOPPED: _run_stopped,
    EventType.RUN_FINISHED: _run_finished,
}


# --- a cloud's own inner steps, from a CallFinished's `native` ----------------------------------


def _native_spans(f: TraceFold, call: _Open, native: Mapping[str, Any], end: datetime) -> None:
    start = call.start
    parts = native.get("trace")
    if isinstance(parts, Sequence) and not isinstance(parts, str):
        _bedrock_spans(f, call, [p for p in parts if isinstance(p, Mapping)], start, end)
    events = native.get("events")
    if isinstance(events, Sequence) and not isinstance(events, str):
        _agent_event_spans(f, call, [e for e in events if isinstance(e, Mapping)], start, end)
    tools = native.get("tool_calls")
    if isinstance(tools, Sequence) and not isinstance(tools, str):
        for index, tool in enumerate(t for t in tools if isinstance(t, Mapping)):
            _tool_span(f, call, f"{call.key}:tool:{index}", tool, start, end)


def _tool_span(
    f: TraceFold, parent: _Open, key: str, tool: Mapping[str, Any], start: datetime, end: datetime
) -> None:
    name = str(tool.get("name") or "?")
    began = _time(tool.get("started_at"), start)
    took = tool.get("duration_ms")
    finished = began + timedelta(milliseconds=float(took)) if isinstance(took, int | float) else end
    span = f._start(key, parent.key, f"execute_tool {name}", "tool", began)
    span.attributes.update(
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function"}
    )
    if tool.get("id"):
        span.attributes["gen_ai.tool.call.id"] = str(tool["id"])
    f._set_content(span, "gen_ai.tool.call.arguments", tool.get("arguments"))
    f._set_content(span, "gen_ai.tool.call.result", tool.get("result"))
    if tool.get("error"):
        span.status, span.message = "error", str(tool["error"])
    else:
        span.status = "ok"
    f._end(key, max(finished, began))


_BEDROCK_SECTIONS = {
    "preProcessingTrace": "pre-processing",
    "orchestrationTrace": "orchestration",
    "postProcessingTrace": "post-processing",
    "routingClassifierTrace": "routing",
    "customOrchestrationTrace": "custom orchestration",
    "guardrailTrace": "guardrail",
    "failureTrace": "failure",
}


def _bedrock_spans(
    f: TraceFold, call: _Open, parts: list[Mapping[str, Any]], start: datetime, end: datetime
) -> None:
    """Bedrock's trace parts: a span per section and trace id, its model invocations and actions."""
    groups: dict[tuple[str, str], list[tuple[Mapping[str, Any], Mapping[str, Any], datetime]]] = {}
    for part in parts:
        body = part.get("trace")
        if not isinstance(body, Mapping):
            continue
        at = _time(part.get("eventTime"), start)
        for section, content in body.items():
            if not isinstance(content, Mapping):
                continue
            ident = _bedrock_trace_id(content) or f"{section}:{len(groups)}"
            groups.setdefault((section, ident), []).append((content, part, at))
    for index, ((section, ident), items) in enumerate(groups.items()):
        key = f"{call.key}:bedrock:{index}"
        times = [at for _, _, at in items]
        label = _BEDROCK_SECTIONS.get(section, section)
        span = f._start(key, call.key, f"bedrock {label}", "inner", min(times))
        span.attributes.update({"podium.bedrock.trace": section, "podium.bedrock.trace_id": ident})
        span.status = "ok"
        latest = max(times)
        for number, (content, part, at) in enumerate(items):
            if section == "failureTrace":
                span.status = "error"
                span.message = str(content.get("failureReason") or "failed")
            if section == "guardrailTrace" and content.get("action"):
                span.attributes["podium.bedrock.guardrail_action"] = content["action"]
            if part.get("collaboratorName"):
                span.attributes["podium.bedrock.collaborator"] = part["collaboratorName"]
            latest = max(latest, _bedrock_model_span(f, span, f"{key}:{number}", content, at))
            latest = max(latest, _bedrock_action_span(f, span, f"{key}:a{number}", content, items, at))
            rationale = content.get("rationale")
            if isinstance(rationale, Mapping) and f.content and rationale.get("text"):
                span.attributes["podium.bedrock.rationale"] = str(rationale["text"])
        f._end(key, min(max(latest, span.start), max(end, span.start)))


def _bedrock_trace_id(content: Mapping[str, Any]) -> str | None:
    for value in content.values():
        if isinstance(value, Mapping) and value.get("traceId"):
            return str(value["traceId"])
    return str(content["traceId"]) if content.get("traceId") else None


def _bedrock_model_span(
    f: TraceFold, parent: _Open, key: str, content: Mapping[str, Any], at: datetime
) -> datetime:
    output = content.get("modelInvocationOutput")
    if not isinstance(output, Mapping):
        return at
    model_input = content.get("modelInvocationInput")
    meta = output.get("metadata") if isinstance(output.get("metadata"), Mapping) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), Mapping) else {}
    began = _time(meta.get("startTime"), at)
    finished = _time(meta.get("endTime"), began)
    model = _bedrock_model(
        parent,
        f.open[parent.parent].attributes.get("gen_ai.request.model") if parent.parent in f.open else None,
    )
    span = f._start(key, parent.key, f"chat {model or ''}".strip(), "inner", began)
    span.attributes.update(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.usage.input_tokens": int(usage.get("inputTokens") or 0),
            "gen_ai.usage.output_tokens": int(usage.get("outputTokens") or 0),
        }
    )
    if model:
        span.attributes["gen_ai.request.model"] = model
    kind = model_input.get("type") if isinstance(model_input, Mapping) else None
    if kind or parent.attributes.get("podium.bedrock.type"):
        span.attributes["podium.bedrock.type"] = kind or parent.attributes["podium.bedrock.type"]
    span.status = "ok"
    f._end(key, finished)
    return finished


def _bedrock_model(parent: _Open, model: Any) -> str | None:
    found = parent.attributes.get("podium.bedrock.model")
    return str(found) if found else (str(model) if model else None)


def _bedrock_action_span(
    f: TraceFold,
    parent: _Open,
    key: str,
    content: Mapping[str, Any],
    items: list[tuple[Mapping[str, Any], Mapping[str, Any], datetime]],
    at: datetime,
) -> datetime:
    model_input = content.get("modelInvocationInput")
    if isinstance(model_input, Mapping):  # what the invocation's output part (later) is labelled with
        if model_input.get("foundationModel"):
            parent.attributes["podium.bedrock.model"] = model_input["foundationModel"]
        if model_input.get("type"):
            parent.attributes["podium.bedrock.type"] = model_input["type"]
    invocation = content.get("invocationInput")
    if not isinstance(invocation, Mapping):
        return at
    kind = str(invocation.get("invocationType") or "ACTION_GROUP")
    action = invocation.get("actionGroupInvocationInput") or {}
    lookup = invocation.get("knowledgeBaseLookupInput") or {}
    collaborator = invocation.get("agentCollaboratorInvocationInput") or {}
    if isinstance(action, Mapping) and action:
        name = str(action.get("function") or action.get("apiPath") or action.get("actionGroupName") or "?")
        arguments: Any = action.get("parameters") or action.get("requestBody")
    elif isinstance(lookup, Mapping) and lookup:
        name, arguments = f"knowledge_base {lookup.get('knowledgeBaseId') or ''}".strip(), lookup.get("text")
    elif isinstance(collaborator, Mapping) and collaborator:
        name, arguments = (
            f"agent {collaborator.get('agentCollaboratorName') or ''}".strip(),
            collaborator.get("input"),
        )
    else:
        name, arguments = kind.lower(), None
    observation: Mapping[str, Any] | None = None
    ended = at
    for other, _, other_at in items:
        seen = other.get("observation")
        if isinstance(seen, Mapping) and seen.get("type") != "FINISH":
            observation, ended = seen, other_at
    span = f._start(key, parent.key, f"execute_tool {name}", "tool", at)
    span.attributes.update(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "datastore" if lookup else "extension",
            "podium.bedrock.invocation_type": kind,
        }
    )
    f._set_content(span, "gen_ai.tool.call.arguments", arguments)
    if observation is not None:
        result = {k: v for k, v in observation.items() if k not in ("traceId", "type")}
        f._set_content(span, "gen_ai.tool.call.result", result or None)
    span.status = "ok"
    f._end(key, max(ended, at))
    return max(ended, at)


def _agent_event_spans(
    f: TraceFold, call: _Open, events: list[Mapping[str, Any]], start: datetime, end: datetime
) -> None:
    """An agent engine's events (Vertex ADK): each model turn with usage, and each tool call."""
    pending: dict[str, tuple[str, Any, datetime]] = {}
    for index, event in enumerate(events):
        at = _time(event.get("timestamp"), start)
        at = min(max(at, start), max(end, start))
        usage = event.get("usage_metadata") or event.get("usageMetadata")
        content = event.get("content") if isinstance(event.get("content"), Mapping) else {}
        parts = content.get("parts") if isinstance(content.get("parts"), Sequence) else []
        for number, part in enumerate(p for p in parts if isinstance(p, Mapping)):
            asked = part.get("function_call") or part.get("functionCall")
            answered = part.get("function_response") or part.get("functionResponse")
            if isinstance(asked, Mapping):
                ident = str(asked.get("id") or f"{index}:{number}")
                pending[ident] = (str(asked.get("name") or "?"), asked.get("args"), at)
            elif isinstance(answered, Mapping):
                ident = str(answered.get("id") or "")
                name, args, began = pending.pop(ident, None) or (str(answered.get("name") or "?"), None, at)
                tool = {
                    "name": name,
                    "id": ident or None,
                    "arguments": args,
                    "result": answered.get("response"),
                }
                _tool_span(f, call, f"{call.key}:event:{index}:{number}", tool, began, at)
        if isinstance(usage, Mapping):
            key = f"{call.key}:turn:{index}"
            author = event.get("author")
            span = f._start(key, call.key, "chat", "inner", at)
            span.attributes.update(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": call.attributes.get("gen_ai.provider.name"),
                    "gen_ai.usage.input_tokens": int(
                        usage.get("prompt_token_count") or usage.get("promptTokenCount") or 0
                    ),
                    "gen_ai.usage.output_tokens": int(
                        usage.get("candidates_token_count") or usage.get("candidatesTokenCount") or 0
                    ),
                }
            )
            if author:
                span.attributes["gen_ai.agent.name"] = str(author)
            span.status = "ok"
            f._end(key, at)


def spans_of(
    events: Iterable[Event],
    *,
    content: bool = False,
    attributes: AttributesHook | None = None,
    provider_names: Mapping[str, str] | None = None,
) -> list[Span]:
    """A run's spans from its events (in order): the whole tree, open spans with no end."""
    fold = TraceFold(content=content, attributes=attributes, provider_names=provider_names)
    for event in events:
        fold.feed(event)
    return fold.spans()
