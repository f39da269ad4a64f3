"""A run's fold, saved where the run stops (failed, stopped, waiting, cancelled), so that a resume
starts from one row and the few events after it instead of reading and folding every event.

A snapshot is derived data, kept in the store's derived tables (`RunStore.derived_tables`): it is
`RunFold` as of one seq, and the events stay the only source of truth. A resume goes on from it
only when it is of this code's version and not past the run's last event; a missing, old or
unreadable one means a full read, as before. It is written after the run's last event, so a
process killed at any point leaves either no snapshot or a correct one of an earlier seq.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any

from podium.core.events import RunStatus, StepStatus
from podium.core.replay import _STEP_DEFAULTS, _USAGE_KINDS, Packed, RunFold

log = logging.getLogger("podium")

VERSION = 3  # bump whenever RunFold's state or this encoding changes: an older snapshot is ignored

_TABLE = (
    "CREATE TABLE IF NOT EXISTS run_snapshots"
    " (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)"
)
_STATUSES = frozenset(str(s) for s in StepStatus)
_VIEW_CODES = {"succeeded": 1, "rejected": 2, "skipped": 3}
_STATUS_TEXTS = {s: s for s in _STATUSES}


def save(store: Any, fold: RunFold) -> None:
    """Keep `fold` as the run's snapshot (replacing an older one). Never fails a run: a snapshot
    that cannot be written (a read-only database, say) only makes the next resume read more."""
    try:
        text = _dumps(_encode(fold))
        with store.derived_tables() as db:
            db.execute(_TABLE)
            db.execute(  # (portable SQL: a derived table may live in PostgreSQL too)
                "INSERT INTO run_snapshots (run_id, seq, version, data) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET seq=excluded.seq, version=excluded.version,"
                " data=excluded.data",
                (fold.run_id, fold.seq, VERSION, text),
            )
    except Exception:
        log.debug("run %s: could not save its snapshot", fold.run_id, exc_info=True)


def load(store: Any, run_id: str) -> RunFold | None:
    """The run's fold as of its snapshot, or None (none, of another version, or past the log)."""
    try:
        with store.derived_tables() as db:
            row = db.execute(
                "SELECT seq, version, data FROM run_snapshots WHERE run_id=?", (run_id,)
            ).fetchone()
        if row is None or row[1] != VERSION or row[0] > store.last_seq(run_id):
            return None
    except sqlite3.Error:  # no such table yet: no run of this database has stopped
        return None
    except Exception:  # a store without derived tables: read the events
        log.debug("run %s: no snapshot to read", run_id, exc_info=True)
        return None
    try:
        fold = _decode(run_id, json.loads(row[2]))
    except (ValueError, KeyError, TypeError, IndexError):
        log.debug("run %s: its snapshot is unreadable; reading its events", run_id, exc_info=True)
        return None
    fold.outputs.missing = lambda seq: _reply_at(store, run_id, seq)
    return fold


def _reply_at(store: Any, run_id: str, seq: int) -> Any:
    """The reply of the CallFinished at `seq` (a reference the snapshot did not keep)."""
    found = store.events(run_id, after=seq - 1, limit=1)
    return found[0].data.get("reply") if found and found[0].seq == seq else None


# the fields every step's dict has (`replay._new_step`): its id and each field whose default is
# not None; a step may lack any other, whose column then holds None, its default
_ALWAYS = frozenset(["id", *(k for k, v in _STEP_DEFAULTS.items() if v is not None)])


def _packable(keys: tuple[str, ...]) -> bool:
    named = set(keys)
    return named.issuperset(_ALWAYS) and named.issubset(_STEP_DEFAULTS) and len(named) == len(keys)


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_text)


def _dumps(data: dict[str, Any]) -> str:
    """`_json(data)`, the same text, encoded a value (and a column) at a time; `data` is emptied.

    json's C encoder gathers a text in pieces of a few bytes each (a value, a comma), joined
    only every 100,000 pieces: a 10,000-step fold's 1.7 MB text was ~7 MiB of them at once,
    on top of `data`. Here each value is let go once its text is made, and no more than one
    column's pieces are held besides the texts made so far.
    """
    pieces: list[str] = []
    for key in list(data):
        value = data.pop(key)
        if key == "columns":
            texts = [f"{_json(name)}:{_json(value.pop(name))}" for name in list(value)]
            value = "{" + ",".join(texts) + "}"
            del texts
        else:
            value = _json(value)
        pieces.append(f"{_json(key)}:{value}")
    return "{" + ",".join(pieces) + "}"


def _encode(fold: RunFold) -> dict[str, Any]:
    """The fold as JSON values. Steps are columns, one per field some step has (None where a step
    does not: every such field defaults to None), with each step's shape (the fields it has, in
    order) by index; usage counts and `bound_to`s are kept once each, a step holding the index of
    its own."""
    assert fold.head is not None
    p = fold.prog
    steps = fold.thaw()
    n = len(steps)
    shapes: dict[tuple[str, ...], int] = {}
    shape_of: list[int] = []
    columns: dict[str, list[Any]] = {}
    usages: dict[tuple[int, ...], int] = {}
    bound: dict[str, int] = {}  # bound_to, by its JSON text (in its own key order), -> its index
    bound_values: list[Any] = []
    index: dict[str, int] = {}
    for i, (sid, step) in enumerate(steps.items()):
        index[sid] = i
        keys = tuple(step)
        shape = shapes.get(keys)
        if shape is None:
            shape = shapes[keys] = len(shapes)
            for key in keys:
                if key not in columns:
                    columns[key] = [None] * n
            if not _packable(keys):
                raise ValueError(f"step {sid}: fields {keys} cannot be packed")
        shape_of.append(shape)
        for key, value in step.items():
            if key == "usage":
                counts = tuple(value[k] for k in _USAGE_KINDS)
                value = usages.setdefault(counts, len(usages))
            elif key == "bound_to" and value is not None:
                text = json.dumps(value, default=_text)
                if text not in bound:
                    bound[text] = len(bound_values)
                    bound_values.append(value)
                value = bound[text]
            columns[key][i] = value
    # views flat, two values each: the step's index and how its view is made from it; a view the
    # fold did not make itself (never, so far) is kept whole, in `odd_views`
    views: list[int] = []
    odd_views: list[Any] = []
    for sid, view in p.views.items():
        code = _VIEW_CODES[view["status"]]
        if code != 3 and steps[sid].get("output") is not view["output"]:
            code = 0
            odd_views.append(view)
        views += (index[sid], code)
    return {
        "seq": fold.seq,
        "head": fold.head,
        "total": [fold.total[k] for k in _USAGE_KINDS],
        "cancelled": fold.cancelled,
        "shapes": [list(keys) for keys in shapes],
        "shape": shape_of,
        "columns": columns,
        "usages": [list(counts) for counts in usages],
        "bound": bound_values,
        "views": views,
        "odd_views": odd_views,
        "started": p.started,
        "attempts": [[k[0], k[1], n] for k, n in p.attempts.items()],
        "inflight": [[k[0], k[1], n] for k, n in p.inflight.items()],
        "items": [[sid, list(got.items())] for sid, got in fold.outputs.items.items()],
        "requested": p.requested,
        "decided": p.decided,
        "failed": p.failed,
        "tool_calls": [[*k, d] for k, d in p.tool_calls.items()],
        "finished": p.finished,
        "unconsumed": [[k[0], k[1], seq, n, d] for k, (seq, n, d) in fold.unconsumed.items()],
    }


def _decode(run_id: str, data: dict[str, Any]) -> RunFold:
    """The fold back, its steps left as rows (`replay.Packed`): only views are made per step."""
    fold = RunFold(run_id)
    head = data["head"]
    head["status"] = RunStatus(head["status"])
    head["run_id"] = run_id
    fold.head = head
    fold.total = dict(zip(_USAGE_KINDS, data["total"], strict=True))
    fold.cancelled = bool(data["cancelled"])
    shapes = [tuple(keys) for keys in data["shapes"]]
    columns: dict[str, list[Any]] = data["columns"]
    shape_of: list[int] = data["shape"]
    ids = columns["id"]
    n = len(ids)
    if (
        any(len(col) != n for col in columns.values())
        or len(shape_of) != n
        or any(k not in _STEP_DEFAULTS for k in columns)
        or any(k not in columns for keys in shapes for k in keys)
        or not all(_packable(keys) for keys in shapes)
        or (n and not 0 <= min(shape_of) <= max(shape_of) < len(shapes))
    ):
        raise ValueError("the snapshot's step columns do not fit together")
    usages = [tuple(counts) for counts in data["usages"]]
    if any(len(counts) != len(_USAGE_KINDS) for counts in usages):
        raise ValueError("usage counts of another length")
    used = columns["usage"]
    if not set(columns["status"]) <= _STATUSES or (n and not 0 <= min(used) <= max(used) < len(usages)):
        raise ValueError("a step's status or usage is not one the snapshot has")
    bound = [b for b in columns.get("bound_to", ()) if b is not None]
    if bound and not 0 <= min(bound) <= max(bound) < len(data["bound"]):
        raise ValueError("a step's bound_to is not one the snapshot has")
    # json makes a new text of every value: the texts most steps repeat are kept once, and each
    # step's id once (the attempts and the started run name them again): ~3 MiB at 10,000 steps
    columns["status"] = list(map(_STATUS_TEXTS.__getitem__, columns["status"]))
    for key in ("agent", "provider", "model"):  # names: text (or None) in every step
        if (column := columns.get(key)) is not None:
            columns[key] = list(map({}.setdefault, column, column))
    if (column := columns.get("output")) is not None:  # any JSON value: only texts are shared
        seen: dict[str, str] = {}
        columns["output"] = [seen.setdefault(v, v) if v.__class__ is str else v for v in column]
    fold.packed = Packed(columns, shape_of, shapes, usages, data["bound"])
    fold.steps = steps = dict(zip(ids, range(n), strict=True))
    if len(steps) != n:
        raise ValueError("a step saved twice")
    own = dict(zip(ids, ids, strict=True)).get
    p = fold.prog
    p.seq = data["seq"]
    started = p.started = data["started"]
    if isinstance(started, dict) and isinstance(started.get("steps"), list):
        started["steps"] = list(map(own, started["steps"], started["steps"]))
    views = p.views
    outputs = columns.get("output") or [None] * n  # (a step without an output has None there)
    odd = iter(data["odd_views"])
    flat = data["views"]
    for j in range(0, len(flat), 2):
        i, code = flat[j], flat[j + 1]
        if code == 1:
            views[ids[i]] = {"output": outputs[i], "status": "succeeded"}
        elif code == 2:
            views[ids[i]] = {"output": outputs[i], "status": "rejected", "rejected": True}
        elif code == 3:
            views[ids[i]] = {"output": None, "status": "skipped"}
        else:
            views[ids[i]] = next(odd)
    p.attempts = {(own(sid, sid), item): n for sid, item, n in data["attempts"]}
    p.inflight = {(sid, item): n for sid, item, n in data["inflight"]}
    fold.outputs.items = {sid: {int(i): v for i, v in got} for sid, got in data["items"]}
    p.requested = data["requested"]
    p.decided = data["decided"]
    p.failed = data["failed"]
    p.tool_calls = {(sid, item, int(i)): d for sid, item, i, d in data["tool_calls"]}
    p.finished = data["finished"]
    for sid, item, seq, n, d in data["unconsumed"]:
        fold.unconsumed[(sid, item)] = (seq, n, d)
        fold.outputs.replies[seq] = d.get("reply")
    return fold
