"""A chain through `podium.run` and the default store: each step's end is durable before the next
step calls its agent, and a step's end shares its transaction with the next step's start (two
commits a step, not three: the cost of a durable chain is mostly its commits)."""

from __future__ import annotations

from pathlib import Path

import podium
from podium.core.store import SQLiteStore

# The agent opens the run's database read-only, as another process would, and returns what is on
# record (committed) at the moment it is called.
AGENT = """
import sqlite3


def on_record(prompt):
    db = sqlite3.connect(f"file:{prompt}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT type, step FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    return [f"{type_}:{step}" for type_, step in rows]
"""

STEPS = 6


def chain(folder: Path) -> Path:
    (folder / "chain_agents.py").write_text(AGENT)
    lines = [
        "name: chain",
        "inputs: {db: {type: string}}",
        "agents: {w: {function: 'chain_agents:on_record'}}",
        "steps:",
        "  s0: {agent: w, prompt: '{{ inputs.db }}'}",
    ]
    lines += [
        f"  s{i}: {{agent: w, needs: [s{i - 1}], prompt: '{{{{ inputs.db }}}}'}}" for i in range(1, STEPS)
    ]
    path = folder / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_step_calls_its_agent_only_once_the_step_before_is_durable(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = podium.run(chain(tmp_path), {"db": str(db)}, store=db)
    assert run.ok, run.error
    for i in range(1, STEPS):
        seen = run.steps[f"s{i}"].output
        # its predecessor's success, and its own call, were committed before the call was made
        assert f"StepSucceeded:s{i - 1}" in seen, (i, seen)
        assert seen[-1] == f"CallStarted:s{i}", (i, seen)
        assert f"CallFinished:s{i}" not in seen


class CountingStore(SQLiteStore):
    """The default store, counting its transactions (one `append_many` each)."""

    commits = 0

    def append_many(self, batch: object) -> None:  # type: ignore[override]
        self.commits += 1
        super().append_many(batch)  # type: ignore[arg-type]


def test_a_chain_step_commits_twice_its_end_with_the_next_steps_start(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = CountingStore(db)
    try:
        run = podium.run(chain(tmp_path), {"db": str(db)}, store=store)
        assert run.ok, run.error
        events = store.events(run.run_id)
    finally:
        store.close()
    assert len(events) == 4 * STEPS + 2
    # RunStarted; per step: [previous StepSucceeded +] StepStarted + CallStarted, CallFinished;
    # the last StepSucceeded; RunFinished (was 3 a step: StepSucceeded on its own)
    assert store.commits <= 2 * STEPS + 3, store.commits
