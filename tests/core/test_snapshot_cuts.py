"""A snapshot taken at any event, then the events after it, folds to what every event folds to
(podium.core.snapshot, replay.Packed); what a resume reads and keeps stays bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fold_support import ev, log

from podium.core import snapshot
from podium.core.events import EventType
from podium.core.replay import RunFold, read_rows, rows_of
from podium.core.run import Run
from podium.core.store import MemoryStore, SQLiteStore
from podium.core.store import memory as memory_module
from podium.core.store import sqlite as sqlite_module

T = EventType
BOUND = {"kind": "model", "id": "m-2", "via": "local"}
USED = {"input_tokens": 7, "output_tokens": 3, "requests": 1}
STEPS = ["a", "each", "rej", "stop", "skip", "tools", "gate", "never"]


# every kind of event a fold reads, on steps of every outcome, across a stop, a wait, two resumes
# and a cancel: a snapshot may be taken after any of them and the run go on from there
LONG = log(
    ev(T.RUN_STARTED, workflow="wf", file="f.yaml", file_hash="h", inputs={"n": 1}, steps=STEPS),
    ev(T.STEP_STARTED, "a", agent="w", items=None),  # 2
    ev(T.CALL_STARTED, "a", 1, provider="p1", item=None),
    ev(T.CALL_FAILED, "a", 1, provider="p1", item=None, kind="throttled", message="slow down"),
    ev(T.CALL_STARTED, "a", 2, provider="p2", item=None),  # 5
    ev(T.CALL_FINISHED, "a", 2, provider="p2", item=None, reply="A!", usage=USED, bound_to=BOUND),
    ev(T.STEP_SUCCEEDED, "a", output_ref=6, provider="p2"),
    ev(T.STEP_STARTED, "each", agent="w", items=2),  # 8
    ev(T.CALL_STARTED, "each", 1, provider="p1", item=0),
    ev(T.CALL_FINISHED, "each", 1, provider="p1", item=0, reply="x0", usage=USED, bound_to=BOUND),
    ev(T.ITEM_SUCCEEDED, "each", item=0, output_ref=10, provider="p1"),
    ev(T.CALL_STARTED, "each", 1, provider="p1", item=1),  # 12
    ev(T.CALL_FINISHED, "each", 1, provider="p1", item=1, reply={"k": [1]}, usage={"requests": 1}),
    ev(T.ITEM_SUCCEEDED, "each", item=1, output={"k": [1]}, provider="p1"),
    ev(T.STEP_SUCCEEDED, "each", items=2, provider="p1"),  # 15
    ev(T.STEP_STARTED, "rej", agent=None, items=None),
    ev(T.STEP_FAILED, "rej", kind="rejected", message="no"),
    ev(T.STEP_STARTED, "stop", agent="w", items=None),
    ev(T.STEP_FAILED, "stop", kind="policy", message="budget", stopped=True),
    ev(T.STEP_SKIPPED, "skip", reason="when was false"),  # 20
    ev(T.STEP_STARTED, "tools", agent="w", items=None),
    ev(T.CALL_STARTED, "tools", 1, provider="p1", item=None),
    ev(T.TOOL_CALLED, "tools", 1, item=None, index=0, tool="look", result="x"),
    ev(T.BUDGET_WARNING, None, spent=1.0),
    ev(T.RUN_STOPPED, error={"kind": "policy", "message": "budget"}),  # 25
    ev(T.RUN_RESUMED, owner="o2"),
    ev(T.CALL_FINISHED, "tools", 1, provider="p1", item=None, reply="t", usage=USED),  # left unconsumed
    ev(T.APPROVAL_REQUESTED, "gate", message="go?"),
    ev(T.RUN_WAITING),
    ev(T.APPROVAL_DECIDED, "gate", decision="approved", by="ann"),  # 30
    ev(T.RUN_RESUMED, owner="o3"),
    ev(T.STEP_SUCCEEDED, "gate", output={"by": "ann"}),
    ev(T.STEP_REJECTED, "rej", output=None),
    ev(T.STEP_STARTED, "late", agent="w", items=None),  # a step the RunStarted did not list
    ev(T.STEP_SUCCEEDED, "old", output="x", rejected=True),  # 35: an older log's flag
    ev(T.RUN_FINISHED, status="failed", error={"kind": "error", "message": "stop failed"}),
    ev(T.RUN_RESUMED, owner="o4"),
    ev(T.STEP_STARTED, "stop", agent="w", items=None),
    ev(T.RUN_FINISHED, status="cancelled", cancelled_by="ann"),  # 39
)


def shown(run: Run) -> tuple[Any, ...]:
    """All a Run tells, with which fields each step has set and the type of each field's value (a
    status is a StepStatus, a time a datetime, usage a Usage: a resume must not change them)."""
    return (
        run.model_dump(mode="json"),
        {sid: step.model_fields_set for sid, step in run.steps.items()},
        {sid: [type(v).__name__ for v in vars(step).values()] for sid, step in run.steps.items()},
    )


def same(kept: RunFold, full: RunFold) -> None:
    assert kept.seq == full.seq
    assert kept.progress() == full.progress()
    run = kept.run(STEPS)
    # the workflow's steps in its order, then those only the events named
    assert list(run.steps) == STEPS + [sid for sid in full.steps if sid not in STEPS]
    assert shown(run) == shown(full.run(STEPS))
    assert shown(kept.run(STEPS, last=True)) == shown(full.run(STEPS, last=True))


def repacked(fold: RunFold, store: MemoryStore) -> RunFold:
    """`fold` saved and read back (a resumed run that stops again saves a fold that came from a
    snapshot, with some steps unpacked by the events since)."""
    text = json.dumps(snapshot._encode(fold), default=snapshot._text)
    again = snapshot._decode("r1", json.loads(text))
    again.outputs.missing = lambda seq: snapshot._reply_at(store, "r1", seq)
    return again


def test_a_snapshot_at_any_event_and_the_events_after_it_fold_as_every_event() -> None:
    for at in range(1, len(LONG) + 1):
        store = MemoryStore()
        for event in LONG[:at]:
            store.append(event)
        snapshot.save(store, RunFold("r1").feed(rows_of(LONG[:at])))
        for upto in range(at, len(LONG) + 1):
            if upto > at:
                store.append(LONG[upto - 1])
            kept = snapshot.load(store, "r1")
            assert kept is not None and kept.seq == at, (at, upto)
            kept.feed(read_rows(store, "r1", after=at))
            again = repacked(kept, store)
            full = RunFold("r1").feed(rows_of(LONG[:upto]))
            same(kept, full)
            same(again, RunFold("r1").feed(rows_of(LONG[:upto])))


def test_a_resume_keeps_only_the_steps_its_events_touch_as_dicts_and_shares_what_steps_share() -> None:
    n = 300
    entries = [ev(T.RUN_STARTED, workflow="wf", steps=[f"s{i}" for i in range(n)])]
    for i in range(n):
        seq = len(entries) + 3  # the CallFinished's
        entries += [
            ev(T.STEP_STARTED, f"s{i}", agent="w", items=None),
            ev(T.CALL_STARTED, f"s{i}", 1, provider="p", item=None),
            ev(T.CALL_FINISHED, f"s{i}", 1, provider="p", item=None, reply="ok", usage=USED, bound_to=BOUND),
            ev(T.STEP_SUCCEEDED, f"s{i}", output_ref=seq, provider="p"),
        ]
    entries.append(ev(T.RUN_FINISHED, status="failed"))
    entries += [ev(T.RUN_RESUMED), ev(T.STEP_STARTED, "s7", agent="w", items=None)]
    events = log(*entries)
    store = MemoryStore()
    for event in events[:-2]:
        store.append(event)
    snapshot.save(store, RunFold("r1").feed(rows_of(events[:-2])))
    for event in events[-2:]:
        store.append(event)

    kept = snapshot.load(store, "r1")
    assert kept is not None
    kept.feed(read_rows(store, "r1", after=kept.seq))

    # the one step an event after the snapshot named is a dict; the others stay in its columns
    assert [sid for sid, step in kept.steps.items() if isinstance(step, dict)] == ["s7"]
    run = kept.run([f"s{i}" for i in range(n)], last=True)
    assert kept.steps == {} and kept.packed is None  # used up: the Run holds the steps, the fold none
    steps = list(run.steps.values())
    assert len(steps) == n and all(s.output == "ok" and s.usage.input_tokens == 7 for s in steps)
    # one Usage, one bound_to and one set of field names for all the steps the snapshot kept
    packed = [s for s in steps if s.id != "s7"]
    assert len({id(s.usage) for s in steps}) == 1
    assert len({id(s.bound_to) for s in packed}) == 1
    assert len({id(s.model_fields_set) for s in packed}) == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_stores_decode_a_runs_events_a_page_at_a_time(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = memory_module if kind == "memory" else sqlite_module
    monkeypatch.setattr(module, "_PAGE", 4)
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "runs.db")
    for event in LONG[:11]:
        store.append(event)
    decoded: list[int] = []
    loads = json.loads

    def counted(text: str) -> Any:
        out = loads(text)
        decoded.append(len(out))
        return out

    monkeypatch.setattr(module.json, "loads", counted)
    rows = store.event_rows("r1", after=1)  # type: ignore[union-attr]
    first = next(iter(rows))
    assert first[0] == 2 and decoded == [4]  # one page read to hand the first event
    rest = list(rows)
    assert decoded == [4, 4, 2]  # never more than a page decoded at once
    assert [r[0] for r in [first, *rest]] == list(range(2, 12))
    monkeypatch.setattr(module.json, "loads", loads)
    assert [r[5] for r in [first, *rest]] == [e.data for e in store.events("r1", after=1)]
    if kind == "sqlite":
        assert [r[0] for r in store.event_rows("r1", after=2, limit=6)] == list(range(3, 9))  # type: ignore[union-attr]
        assert [r[0] for r in store.event_rows("r1", after=9, limit=4)] == [10, 11]  # type: ignore[union-attr]
        store.close()  # type: ignore[union-attr]


def test_a_workflows_graph_and_chains_are_made_once_and_a_copy_with_other_steps_makes_its_own() -> None:
    from podium.core.plan import Plan
    from podium.core.spec import Workflow
    from podium.plugins.manager import load_plugins

    wf = Workflow.model_validate(
        {
            "name": "g",
            "agents": {"w": {"provider": "local"}},
            "steps": {
                "a": {"agent": "w", "prompt": "a"},
                "b": {"agent": "w", "prompt": "b", "needs": ["a"], "on_failure": "h"},
                "h": {"agent": "w", "prompt": "h"},
            },
        }
    )
    providers = load_plugins(entry_points_too=False).providers
    assert wf.graph is wf.graph is Plan(wf, providers).graph is Plan(wf, providers).graph
    assert dict(wf.graph.needs) == {"a": (), "b": ("a",)}  # the handler runs only on a failure
    fewer = wf.model_copy(update={"steps": {"a": wf.steps["a"]}})
    assert dict(fewer.graph.needs) == {"a": ()} and dict(wf.graph.needs) == {"a": (), "b": ("a",)}
    handled = wf.model_copy(update={"on_failure": "a"})
    assert dict(handled.graph.needs) == {"b": ("a",)}  # a is a handler now too
    # provider chains: once per workflow and --provider; a copy with other agents makes its own
    assert Plan(wf, providers).chains is Plan(wf, providers).chains
    assert Plan(wf, providers).chain("b") == ["local"] and list(Plan(wf, providers).providers) == ["local"]
    assert Plan(wf, providers, "other").chain("b") == ["other"] and wf.chains()["b"] == ["local"]
    other = wf.model_copy(update={"agents": {"w": wf.agents["w"].model_copy(update={"provider": "mock"})}})
    assert Plan(other, providers).chain("a") == ["mock"] and wf.chains()["a"] == ["local"]
    assert other.chain_providers() == ["mock"]


SPOILS = {
    "a status no step has": lambda d: d["columns"]["status"].__setitem__(0, "finished"),
    "a usage not in the table": lambda d: d["columns"]["usage"].__setitem__(1, 99),
    "a bound_to not in the table": lambda d: d["columns"]["bound_to"].__setitem__(0, 7),
    "a shape not in the list": lambda d: d["shape"].__setitem__(2, 40),
    "a column cut short": lambda d: d["columns"]["output"].pop(),
    "a field StepResult does not have": lambda d: d["columns"].__setitem__("colour", [None] * 8),
    "a shape without its id": lambda d: d["shapes"][0].remove("id"),
}


@pytest.mark.parametrize("spoil", list(SPOILS))
def test_a_snapshot_whose_columns_do_not_fit_is_ignored(spoil: str) -> None:
    store = MemoryStore()
    for event in LONG[:20]:
        store.append(event)
    snapshot.save(store, RunFold("r1").feed(rows_of(LONG[:20])))
    with store.derived_tables() as db:
        data = json.loads(db.execute("SELECT data FROM run_snapshots").fetchone()[0])
        assert snapshot.load(store, "r1") is not None
        SPOILS[spoil](data)
        db.execute("UPDATE run_snapshots SET data=?", (json.dumps(data),))
    assert snapshot.load(store, "r1") is None  # the resume reads every event instead


def test_a_fold_with_a_step_the_columns_cannot_hold_saves_no_snapshot() -> None:
    store = MemoryStore()
    for event in LONG[:7]:
        store.append(event)
    fold = RunFold("r1").feed(rows_of(LONG[:7]))
    fold.steps["a"]["colour"] = "red"  # not a field of StepResult: no column would give it back
    snapshot.save(store, fold)
    assert snapshot.load(store, "r1") is None
