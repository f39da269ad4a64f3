"""A run that stops keeps a snapshot of its fold; a resume starts from it, and must end exactly where
a resume that read every event would (podium.core.snapshot)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from podium.core import snapshot
from podium.core.calls import AgentResponse, Usage
from podium.core.engine import Engine
from podium.core.events import EventType
from podium.core.replay import RunFold, fold, read_rows
from podium.core.run import Run
from podium.core.store import SQLiteStore

if TYPE_CHECKING:
    from conftest import Harness

FLOW = """
name: snap
agents: {w: {provider: fake}}
steps:
  a: {agent: w, prompt: a}
  each: {agent: w, needs: [a], foreach: "{{ [1, 2] }}", prompt: "item {{ item }}"}
  quiet: {agent: w, needs: [a], when: "{{ false }}", prompt: never}
  last: {agent: w, needs: [each], prompt: "last {{ steps.a.output }} {{ steps.each.output | length }}"}
"""

USED = AgentResponse(text="A", usage=Usage(input_tokens=7, output_tokens=3, requests=1))


def sqlite_harness(harness: Harness, tmp_path: Path) -> None:
    harness.store = SQLiteStore(tmp_path / "runs.db")  # type: ignore[assignment]
    harness.engine = Engine(plugins=harness.plugins, store=harness.store, clock=harness.clock)


def dumped(run: Run) -> dict[str, Any]:
    return run.model_dump(mode="json")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_resume_from_the_snapshot_ends_as_one_that_read_every_event(
    harness: Harness, tmp_path: Path, kind: str
) -> None:
    if kind == "sqlite":
        sqlite_harness(harness, tmp_path)
    script = harness.provider(USED, "x1", "x2", RuntimeError("down"), "done")
    wf = harness.load(FLOW)
    failed = await harness.run(wf)
    assert failed.status == "failed" and failed.steps["last"].status == "failed"
    store, run_id = harness.store, failed.run_id

    kept = snapshot.load(store, run_id)
    assert kept is not None and kept.seq == store.last_seq(run_id)
    # the snapshot's fold is the fold of the events it stands for, Run and Progress alike
    full = RunFold(run_id).feed(read_rows(store, run_id))
    assert dumped(kept.run(wf.steps)) == dumped(full.run(wf.steps)) == dumped(failed)
    assert kept.progress() == full.progress()

    resumed = await harness.engine.resume(run_id, wf)

    assert resumed.ok, resumed.error
    assert len(script.requests) == 5  # a, both items, last twice: nothing settled was called again
    assert resumed.steps["a"].output == "A" and resumed.steps["each"].output == ["x1", "x2"]
    assert resumed.steps["quiet"].status == "skipped"
    assert resumed.steps["a"].usage.input_tokens == 7
    assert dumped(resumed) == dumped(fold(store.events(run_id), wf.steps))


@pytest.mark.parametrize("spoil", ["version", "seq", "text"])
async def test_a_snapshot_that_cannot_be_trusted_is_ignored_and_the_events_are_read(
    harness: Harness, tmp_path: Path, spoil: str
) -> None:
    sqlite_harness(harness, tmp_path)
    harness.provider("A", RuntimeError("down"), "done")
    wf = harness.load(
        "name: s\nagents: {w: {provider: fake}}\n"
        "steps: {a: {agent: w, prompt: a}, b: {agent: w, needs: [a], prompt: b}}\n"
    )
    failed = await harness.run(wf)
    change = {
        "version": "UPDATE run_snapshots SET version=version+1",
        "seq": "UPDATE run_snapshots SET seq=seq+1",
        "text": "UPDATE run_snapshots SET data='{\"seq\": 1}'",
    }[spoil]
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute(change)
    assert snapshot.load(harness.store, failed.run_id) is None

    resumed = await harness.engine.resume(failed.run_id, wf)

    assert resumed.ok and resumed.steps["a"].output == "A" and resumed.steps["b"].output == "done"
    assert dumped(resumed) == dumped(fold(harness.store.events(failed.run_id), wf.steps))


async def test_events_after_the_snapshot_are_folded_on_top_of_it(harness: Harness, tmp_path: Path) -> None:
    """A decision recorded by another process after the run stopped comes after its snapshot."""
    sqlite_harness(harness, tmp_path)
    harness.provider("published")
    wf = harness.load(
        "name: g\nagents: {w: {provider: fake}}\nsteps:\n  gate: {approval: {message: go?}}\n"
        "  publish: {agent: w, needs: [gate], prompt: publish}\n"
    )
    waiting = await harness.run(wf)
    assert waiting.status == "waiting"
    at = snapshot.load(harness.store, waiting.run_id)
    assert at is not None and at.seq == harness.store.last_seq(waiting.run_id)
    from podium.core.events import Event

    harness.store.append(
        Event(waiting.run_id, at.seq + 1, EventType.APPROVAL_DECIDED, "gate", None,
              {"decision": "approved", "by": "ann", "comment": None, "fields": {}})
    )  # fmt: skip

    resumed = await harness.engine.resume(waiting.run_id, wf)

    assert resumed.ok
    assert resumed.steps["gate"].output["by"] == "ann" and resumed.steps["publish"].output == "published"


async def test_the_saved_text_is_json_dumps_of_the_whole_and_repeats_are_shared(
    harness: Harness, tmp_path: Path
) -> None:
    """Catches a text encoded in pieces that differs from the one-shot encoding (a separator, a key
    out of order, a column left out), and read-back columns holding a copy of each repeated text."""
    harness.store = SQLiteStore(tmp_path / "runs.db")  # type: ignore[assignment]
    harness.engine = Engine(plugins=harness.plugins, store=harness.store, clock=harness.clock)
    harness.provider(USED, "x1", "x2", RuntimeError("down"), "done")
    failed = await harness.run(harness.load(FLOW))
    store, run_id = harness.store, failed.run_id
    with sqlite3.connect(tmp_path / "runs.db") as db:
        (saved,) = db.execute("SELECT data FROM run_snapshots WHERE run_id=?", (run_id,)).fetchone()
    whole = snapshot._encode(RunFold(run_id).feed(read_rows(store, run_id)))
    assert saved == json.dumps(whole, ensure_ascii=False, separators=(",", ":"), default=snapshot._text)

    kept = snapshot.load(store, run_id)
    assert kept is not None and kept.packed is not None
    columns = kept.packed.columns
    for name in ("agent", "provider", "status"):
        assert len({id(v) for v in columns[name]}) == len(set(columns[name])), name
    ids = {id(sid) for sid in columns["id"]}
    assert {id(sid) for sid, _ in kept.prog.attempts} <= ids
    assert {id(sid) for sid in kept.prog.started["steps"]} <= ids
