"""A snapshot is saved a value at a time, yet its text is the one `json.dumps` makes of the whole
(snapshots already saved load as before); read back, the texts many steps repeat are kept once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from podium.core import snapshot
from podium.core.calls import AgentResponse, Usage
from podium.core.engine import Engine
from podium.core.replay import RunFold, read_rows
from podium.core.store import SQLiteStore

if TYPE_CHECKING:
    from conftest import Harness

FLOW = """
name: snap
agents: {writer: {provider: fake}}
steps:
  a: {agent: writer, prompt: a}
  each: {agent: writer, needs: [a], foreach: "{{ [1, 2] }}", prompt: "item {{ item }}"}
  quiet: {agent: writer, needs: [a], when: "{{ false }}", prompt: never}
  last: {agent: writer, needs: [each], prompt: "last {{ steps.a.output }} {{ steps.each.output | length }}"}
"""
USED = AgentResponse(text="A", usage=Usage(input_tokens=7, output_tokens=3, requests=1))


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
