"""Replay: a run's events folded into what is known of it — the Run that `show` prints, and the
Progress a resume schedules from. The event log is the one source of truth; both derive from it here.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from podium.core.calls import Usage
from podium.core.events import Event, EventType, RunStatus, StepStatus
from podium.core.run import Failure, Run, StepResult

_Model = TypeVar("_Model", bound=BaseModel)

Key = tuple[str, int | None]  # (step, foreach item or None)
ToolKey = tuple[str, int | None, int]  # (step, foreach item or None, the call's position among its tools)


class StoredOutputs:
    """Outputs are stored once and referenced: a text reply by its CallFinished's seq, a foreach's
    list by its ItemSucceeded events. This resolves them, for every fold over a run's events.

    A fold that starts from a snapshot (`podium.core.snapshot`) holds only the replies no step has
    consumed; `missing` reads any other one back from the store.
    """

    __slots__ = ("items", "missing", "replies")

    def __init__(self) -> None:
        self.replies: dict[int, Any] = {}  # CallFinished seq -> reply
        self.items: dict[str, dict[int, Any]] = {}  # foreach outputs, by step and item
        self.missing: Callable[[int], Any] | None = None

    def reply(self, seq: int) -> Any:
        if seq in self.replies:
            return self.replies[seq]
        return self.missing(seq) if self.missing is not None else None

    def item_succeeded(self, sid: str, d: dict[str, Any]) -> int:
        """The item's index; its output is remembered for its step's StepSucceeded."""
        value = self.reply(d["output_ref"]) if "output_ref" in d else d.get("output")
        self.items.setdefault(sid, {})[d["item"]] = value
        return int(d["item"])

    def step_succeeded(self, sid: str, d: dict[str, Any]) -> Any:
        """The output a StepSucceeded stands for."""
        if "items" in d:
            got = self.items.get(sid, {})
            return [got.get(i) for i in range(d["items"])]
        if "output_ref" in d:
            return self.reply(d["output_ref"])
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


_UNSETTLED = (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING)
_USAGE_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests")
_TYPES: dict[str, EventType] = {str(t): t for t in EventType}
_RUN_LEVEL = frozenset(
    (EventType.RUN_STARTED, EventType.RUN_RESUMED, EventType.RUN_FINISHED, EventType.RUN_WAITING,
     EventType.RUN_STOPPED)
)  # fmt: skip
_SUCCEEDED, _REJECTED, _SKIPPED = str(StepStatus.SUCCEEDED), str(StepStatus.REJECTED), str(StepStatus.SKIPPED)

# One event as the fold reads it: (seq, at, type, step, attempt, data). `at` is a datetime, or the
# ISO text a store keeps (parsed only for the times a Run shows); `type` an EventType or its text.
Row = tuple[int, "datetime | str", "EventType | str", "str | None", "int | None", dict[str, Any]]


def rows_of(events: Iterable[Event]) -> Iterator[Row]:
    """Events as the fold's rows."""
    for e in events:
        yield e.seq, e.at, e.type, e.step, e.attempt, e.data


def read_rows(store: Any, run_id: str, *, after: int = 0) -> Iterable[Row]:
    """A run's events after `after`, as rows: the store's own rows where it has them (no Event
    made per row), else its events."""
    direct = getattr(store, "event_rows", None)
    if callable(direct):
        rows: Iterable[Row] = direct(run_id, after=after)
        return rows
    return rows_of(store.events(run_id, after=after))


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


def _when(at: datetime | str | None) -> datetime | None:
    return datetime.fromisoformat(at) if isinstance(at, str) else at


_STEP_STATUS: dict[str, StepStatus] = {str(s): s for s in StepStatus}


class Packed:
    """A snapshot's steps as they were saved (`podium.core.snapshot`): a column of values per field
    (None where a step does not have it), each step's shape (the fields it has, in its dict's
    order) by index, and its usage counts and `bound_to` as indexes into tables of the distinct
    ones. In the fold's `steps`, a step still packed is its position in the columns (an int).

    A resume touches a few of a long run's steps: the others are never made into dicts of fields;
    their StepResults are made from the columns, converted a column at a time (`rows`).
    """

    __slots__ = ("bound", "columns", "shape", "shapes", "usages")

    def __init__(
        self,
        columns: dict[str, list[Any]],
        shape: list[int],
        shapes: list[tuple[str, ...]],
        usages: list[tuple[int, ...]],
        bound: list[Any],
    ) -> None:
        self.columns = columns
        self.shape = shape
        self.shapes = shapes
        self.usages = usages
        self.bound = bound

    def thaw(self, i: int) -> dict[str, Any]:
        """Step `i` as the fold's dict of its fields, which the fold can go on with."""
        cols = self.columns
        step = {key: cols[key][i] for key in self.shapes[self.shape[i]]}
        step["status"] = _STEP_STATUS[step["status"]]
        step["usage"] = dict(zip(_USAGE_KINDS, self.usages[step["usage"]], strict=True))
        bound = step.get("bound_to")
        if bound is not None:
            step["bound_to"] = self.bound[bound]
        return step

    def rows(self, usages: dict[tuple[int, ...], Usage]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """Every step's StepResult fields, as (names, one tuple of values per step): each column
        converted at once (statuses, shared Usage models, times, failures)."""
        cols = self.columns
        names = tuple(cols)
        made: list[list[Any]] = []
        parse = datetime.fromisoformat
        for name in names:
            col = cols[name]
            if name == "status":
                col = list(map(_STEP_STATUS.__getitem__, col))
            elif name == "usage":
                table = []
                for key in self.usages:
                    usage = usages.get(key)
                    if usage is None:
                        counts = dict(zip(_USAGE_KINDS, key, strict=True))
                        usage = usages[key] = _assemble(Usage, _USAGE_DEFAULTS, counts)
                    table.append(usage)
                col = list(map(table.__getitem__, col))
            elif name == "bound_to":
                bound = self.bound
                col = [None if b is None else bound[b] for b in col]
            elif name == "started_at" or name == "finished_at":
                col = [parse(at) if at.__class__ is str else at for at in col]
            elif name == "error":
                col = [None if e is None else Failure(**e) for e in col]
            made.append(col)
        return names, list(zip(*made, strict=True))


class RunFold:
    """One pass over a run's events, kept as plain dicts and tuples: it gives both the Run (what
    `show` prints, what a run returns) and the Progress (what a resume schedules from).

    Events can be fed in batches (a resume feeds what came before it, then, for its result, what
    it wrote); pydantic models are built once, by `run()`. It must stay linear and cheap in the
    number of events: resuming a 10,000-step run feeds 40,000.
    """

    def __init__(self, run_id: str, step_ids: Iterable[str] = ()) -> None:
        self.run_id = run_id
        self.head: dict[str, Any] | None = None  # the Run's own fields, from the first event on
        # each step's fields (a snapshot's steps stay in its columns until an event touches them)
        self.steps: dict[str, Any] = {sid: _new_step(sid) for sid in step_ids}
        self.total = dict.fromkeys(_USAGE_KINDS, 0)
        self.outputs = StoredOutputs()
        self.prog = Progress()
        # finished calls not yet consumed, as (seq, attempt, data): nearly every one is consumed by
        # its step's next event, so a Reply is built only for those left when progress() is asked
        self.unconsumed: dict[Key, tuple[int, int, dict[str, Any]]] = {}
        self.cancelled = False  # a RunFinished said cancelled: a step not seen by then was cancelled
        # from a snapshot: its steps' columns; a step in `steps` that is an int is still there
        self.packed: Packed | None = None
        # each event is decoded on its own: the steps bound alike share one `bound_to` and each
        # agent's and provider's name is kept once (10,000 steps: ~5 MiB less in the Run), as a
        # resumed run's steps share theirs (see Packed)
        self.shared: dict[Any, Any] = {}

    @property
    def seq(self) -> int:
        """The seq of the last event fed (0 before any)."""
        return self.prog.seq

    def feed(self, rows: Iterable[Row]) -> RunFold:
        """Fold more events, in seq order, after those already fed."""
        types, run_level = _TYPES, _RUN_LEVEL
        steps, total, outputs, p = self.steps, self.total, self.outputs, self.prog
        unconsumed, replies, attempts, inflight = self.unconsumed, outputs.replies, p.attempts, p.inflight
        head, shared = self.head, self.shared
        E = EventType
        for seq, at, t, sid, attempt, d in rows:
            if t.__class__ is str:
                t = types[t]  # type: ignore[index]
            p.seq = seq
            if head is None:  # the Run is named by its first event
                head = self.head = {
                    "run_id": self.run_id, "workflow": str(d.get("workflow", "?")),
                    "status": RunStatus.RUNNING, "started_at": None, "finished_at": None, "error": None,
                }  # fmt: skip
            if t in run_level:
                self._run_event(t, at, d)  # type: ignore[arg-type]
                continue
            if sid is None:
                continue
            step = steps.get(sid)
            if step is None:
                step = steps[sid] = _new_step(sid)
            elif step.__class__ is int:  # a snapshot's step, touched for the first time
                step = steps[sid] = self.packed.thaw(step)  # type: ignore[union-attr, arg-type]
            if t is E.CALL_FINISHED:
                usage = d.get("usage")
                if usage:
                    mine = step["usage"]
                    for kind in _USAGE_KINDS:
                        n = usage.get(kind)
                        if n:
                            mine[kind] += n
                            total[kind] += n
                replies[seq] = d.get("reply")
                bound = d.get("bound_to")
                if bound:
                    step["bound_to"] = _shared(shared, None, bound)
                key: Key = (sid, d.get("item"))
                inflight.pop(key, None)
                if "waiting" not in d:  # (it stopped for a person's approval of a tool: no reply to use)
                    unconsumed[key] = (seq, attempt or 0, d)
            elif t is E.CALL_STARTED:
                n = attempt or 0
                step["calls"] += 1
                if n > step["attempts"]:
                    step["attempts"] = n
                step["provider"] = _shared(shared, d.get("provider"))
                key = (sid, d.get("item"))
                if n > attempts.get(key, -1):
                    attempts[key] = n
                inflight[key] = n
            elif t is E.STEP_STARTED:
                step["status"] = StepStatus.RUNNING
                step["agent"] = _shared(shared, d.get("agent"))
                step["items"] = d.get("items")
                step["started_at"] = at
            elif t is E.STEP_SUCCEEDED or t is E.STEP_REJECTED:
                rejected = t is E.STEP_REJECTED or bool(d.get("rejected"))  # (older logs: a flag)
                output = outputs.step_succeeded(sid, d)
                step["status"] = StepStatus.REJECTED if rejected else StepStatus.SUCCEEDED
                step["error"] = None
                step["output"] = output
                if d.get("provider"):
                    step["provider"] = _shared(shared, d["provider"])
                step["finished_at"] = at
                if rejected:
                    p.views[sid] = {"output": output, "status": _REJECTED, "rejected": True}
                else:
                    p.views[sid] = {"output": output, "status": _SUCCEEDED}
                p.failed.pop(sid, None)
                if unconsumed:
                    # its calls' replies are used now: by key, not by a scan of every reply still
                    # unused (a fan-out's thousand ended calls made that quadratic)
                    items = step.get("items", unconsumed)  # (StepStarted said: a count, or None)
                    if items is None or isinstance(items, int):
                        unconsumed.pop((sid, None), None)
                        for i in range(items or 0):
                            unconsumed.pop((sid, i), None)
                    else:  # its start is not in this fold: every reply of the step
                        for done in [k for k in unconsumed if k[0] == sid]:
                            del unconsumed[done]
            elif t is E.CALL_FAILED:
                step["failed_calls"] += 1
                key = (sid, d.get("item"))
                inflight.pop(key, None)
                unconsumed.pop(key, None)  # a rejected reply (output_invalid) must not be reused
            elif t is E.ITEM_SUCCEEDED:
                unconsumed.pop((sid, outputs.item_succeeded(sid, d)), None)
            elif t is E.STEP_FAILED:
                if d.get("stopped"):
                    step["status"] = StepStatus.STOPPED
                elif d.get("kind") == "rejected":
                    step["status"] = StepStatus.REJECTED
                else:
                    step["status"] = StepStatus.FAILED
                step["error"] = {"step": sid, **{k: v for k, v in d.items() if k != "stopped"}}
                step["finished_at"] = at
                p.failed[sid] = dict(d)
            elif t is E.STEP_SKIPPED:
                step["status"] = StepStatus.SKIPPED
                step["reason"] = d.get("reason")
                step["finished_at"] = at
                p.views[sid] = {"output": None, "status": _SKIPPED}
                p.failed.pop(sid, None)
            elif t is E.TOOL_CALLED:
                step["tool_calls"] += 1
                p.tool_calls[(sid, d.get("item"), int(d.get("index", 0)))] = dict(d)
            elif t is E.APPROVAL_REQUESTED:
                step["status"] = StepStatus.WAITING
                step["approval"] = {"request": dict(d), "decision": None}
                p.requested[sid] = dict(d)
                p.decided.pop(sid, None)  # a step's next tool approval: the last decision was about another
            elif t is E.APPROVAL_DECIDED:
                step["approval"] = {**(step.get("approval") or {}), "decision": dict(d)}
                p.decided[sid] = dict(d)
        return self

    def _run_event(self, t: EventType, at: datetime | str, d: dict[str, Any]) -> None:
        head = self.head
        assert head is not None
        p = self.prog
        if t is EventType.RUN_STARTED:
            p.started = dict(d)
            head.update(
                status=RunStatus.RUNNING, file=d.get("file"), file_hash=d.get("file_hash"),
                inputs=d.get("inputs", {}), started_at=head["started_at"] or at, finished_at=None,
            )  # fmt: skip
            steps = self.steps
            for sid in d.get("steps", ()):
                if sid not in steps:
                    steps[sid] = _new_step(sid)
        elif t is EventType.RUN_RESUMED:
            p.finished = None
            head.update(status=RunStatus.RUNNING, finished_at=None, error=None)
        elif t is EventType.RUN_FINISHED:
            status = RunStatus(d.get("status", "failed"))
            p.finished = d.get("status")
            head.update(status=status, outputs=d.get("outputs") or {}, error=d.get("error"), finished_at=at)
            if status is RunStatus.CANCELLED:  # nothing of a cancelled run is left to happen
                self.cancelled = True
                self.thaw()
                for unsettled in self.steps.values():
                    if unsettled["status"] in _UNSETTLED:
                        if unsettled["status"] is not StepStatus.PENDING:
                            unsettled["finished_at"] = at
                        unsettled["status"] = StepStatus.CANCELLED
        elif t is EventType.RUN_WAITING:
            head["status"] = RunStatus.WAITING
        elif t is EventType.RUN_STOPPED:
            head.update(status=RunStatus.STOPPED, error=d.get("error"))

    def thaw(self) -> dict[str, dict[str, Any]]:
        """Every step as a dict (a snapshot's steps taken out of its columns): `steps`."""
        packed = self.packed
        if packed is not None:
            steps = self.steps
            for sid, step in steps.items():
                if step.__class__ is int:
                    steps[sid] = packed.thaw(step)  # type: ignore[arg-type]
        return self.steps

    def progress(self) -> Progress:
        """What a resume schedules from, as of the last event fed: the driver's own copy (it takes
        replies and in-flight calls out of it), while the fold goes on with its own."""
        p = self.prog
        return Progress(
            seq=p.seq,
            started=p.started,
            views=dict(p.views),
            attempts=dict(p.attempts),
            inflight=dict(p.inflight),
            replies={
                key: Reply(seq, attempt, data.get("provider", ""), data.get("reply"))
                for key, (seq, attempt, data) in self.unconsumed.items()
            },
            items={sid: dict(got) for sid, got in self.outputs.items.items()},
            requested=dict(p.requested),
            decided=dict(p.decided),
            failed=dict(p.failed),
            tool_calls=dict(p.tool_calls),
            finished=p.finished,
        )

    def run(self, step_ids: Iterable[str] = (), *, last: bool = False) -> Run:
        """The Run as of the last event fed: the workflow's steps (`step_ids`, so that unstarted
        ones show) in its order, then any other step the events name.

        With `last`, the fold is used up: each step's fields are let go as its model is made, so
        a long run's result does not hold both at once (the fold can be fed no more after).
        """
        head = self.head
        if head is None:
            raise ValueError("a run needs at least one event")
        steps = self.steps
        if last:
            self.steps = {}
        # Usage is frozen, so steps that used the same (most often: one request, no tokens) share one.
        usages: dict[tuple[int, ...], Usage] = {}
        shapes: dict[tuple[str, ...], set[str]] = {}
        packed = self.packed
        rows: list[tuple[Any, ...]] = []
        if packed is not None:
            names, rows = packed.rows(usages)
            named_by = [set(keys) for keys in packed.shapes]
            of_shape = packed.shape
            if last:
                self.packed = None
        put = object.__setattr__
        built: dict[str, StepResult] = {}
        # the workflow's steps in its order (one never seen is pending, or cancelled with its run),
        # then any other step the events named, in the order they did
        pending = StepStatus.CANCELLED if self.cancelled else None
        take = steps.pop if last else steps.get  # (with `last`, each is let go as its model is made)
        ordered = chain(
            ((sid, take(sid, None)) for sid in step_ids),
            _unbuilt(steps, built),  # (read once the workflow's steps are done)
        )
        for sid, fields in ordered:
            if fields.__class__ is int:  # a snapshot's step no event since has touched
                values = _STEP_DEFAULTS.copy()
                values.update(zip(names, rows[fields], strict=True))
                model = StepResult.__new__(StepResult)
                put(model, "__dict__", values)
                put(model, "__pydantic_fields_set__", named_by[of_shape[fields]])
                put(model, "__pydantic_extra__", None)
                put(model, "__pydantic_private__", None)
                built[sid] = model
                continue
            if fields is None:
                if sid in built:  # (named twice in step_ids)
                    continue
                fields = _new_step(sid)
                if pending is not None:  # it was pending when its run was cancelled
                    fields["status"] = pending
            built[sid] = _step_model(fields, usages, shapes)
        error = head.get("error")
        return Run.model_construct(
            **{
                **head,
                "started_at": _when(head["started_at"]),
                "finished_at": _when(head["finished_at"]),
                "error": Failure(**error) if error else None,
                "steps": built,
                "usage": _assemble(Usage, _USAGE_DEFAULTS, self.total),
                "last_seq": self.seq,
            }
        )


def _unbuilt(steps: dict[str, Any], built: dict[str, StepResult]) -> Iterator[tuple[str, Any]]:
    for sid, fields in steps.items():
        if sid not in built:
            yield sid, fields


def _step_model(
    fields: dict[str, Any], usages: dict[tuple[int, ...], Usage], shapes: dict[tuple[str, ...], set[str]]
) -> StepResult:
    """A StepResult from the fold's dict of a step's fields (`usages` and `shapes` are shared
    between the steps of one Run)."""
    keys = tuple(fields)
    key = tuple(fields["usage"].values())  # always _USAGE_KINDS, in that order (_new_step)
    usage = usages.get(key)
    if usage is None:
        counts = dict(zip(_USAGE_KINDS, key, strict=True))
        usage = usages[key] = _assemble(Usage, _USAGE_DEFAULTS, counts)
    extra: dict[str, Any] = {"usage": usage}
    at = fields.get("started_at")
    if at.__class__ is str:
        extra["started_at"] = datetime.fromisoformat(at)  # type: ignore[arg-type]
    at = fields.get("finished_at")
    if at.__class__ is str:
        extra["finished_at"] = datetime.fromisoformat(at)  # type: ignore[arg-type]
    error = fields.get("error")
    if error is not None:
        extra["error"] = Failure(**error)
    # Steps with the same fields set share one set of their names: 10,000 sets were 7 MiB of a
    # 10,000-step run's result. (Assigning to a step's attribute adds its name to its shape's
    # set: it was set on those steps anyway, or holds its default.)
    named = shapes.get(keys)
    if named is None:
        named = shapes[keys] = set(keys)
    return _assemble(StepResult, _STEP_DEFAULTS, fields, extra, named)


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


def _shared(seen: dict[Any, Any], name: Any, bound: dict[str, Any] | None = None) -> Any:
    """The one text equal to `name` of those `seen`; or, given `bound` (a `bound_to`), the one dict
    equal to it. Only text is shared: 1 == True == 1.0, and a dict or a list may change."""
    if bound is None:
        return seen.setdefault(name, name) if type(name) is str else name
    if all(type(v) is str for v in bound.values()):
        return seen.setdefault(tuple(bound.items()), bound)
    return bound


def _assemble(
    cls: type[_Model],
    defaults: dict[str, Any],
    values: dict[str, Any],
    extra: dict[str, Any] | None = None,
    fields_set: set[str] | None = None,
) -> _Model:
    """`cls.model_construct(**values, **extra)` without its per-field default lookups (a deep copy
    of each missing default): 10,000 steps cost 20,000 of these at the end of every fold. The
    values are trusted (the fold made them) and every default is immutable (see `_defaults`)."""
    model = cls.__new__(cls)
    put = object.__setattr__
    put(model, "__dict__", {**defaults, **values, **extra} if extra else {**defaults, **values})
    put(model, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
    put(model, "__pydantic_extra__", None)
    put(model, "__pydantic_private__", None)
    return model


def progress(events: Iterable[Event]) -> Progress:
    """Fold a run's events into its Progress: what a resume needs to schedule only what is unfinished."""
    return RunFold("").feed(rows_of(events)).progress()


def fold(events: Iterable[Event], step_ids: Iterable[str] = ()) -> Run:
    """Replay events into a Run. `step_ids` lists the workflow's steps so unstarted ones show."""
    events = events if isinstance(events, list) else list(events)
    if not events:
        raise ValueError("a run needs at least one event")
    return RunFold(events[0].run_id).feed(rows_of(events)).run(step_ids)


class History(Sequence[Event]):
    """A resumed run's events from before this process, read from the store when first asked for.

    A resume folds the store's rows and makes no Event of them; the few readers that want the
    events themselves (the cost plugin, for a budget over a resumed run's priced calls) read them
    here, once.
    """

    def __init__(self, store: Any, run_id: str, upto: int) -> None:
        self._store = store
        self._run_id = run_id
        self._upto = upto
        self._events: list[Event] | None = None

    def _read(self) -> list[Event]:
        if self._events is None:
            self._events = [e for e in self._store.events(self._run_id) if e.seq <= self._upto]
        return self._events

    def __len__(self) -> int:
        return len(self._read())

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self._read()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._read())
