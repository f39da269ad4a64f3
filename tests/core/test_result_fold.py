"""A run's result is folded as its events are written (`engine._LiveFold`), not read back at the
end: it must be the Run that folding the stored events gives (`show`, `podium.get_run`), and the
snapshot it leaves must be the one a resume would fold from the log — on runs of every shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import podium
from podium.core import engine, snapshot
from podium.core.engine import Engine
from podium.core.replay import RunFold, fold, read_rows
from podium.core.run import Run
from podium.core.spec import Workflow
from podium.core.store import SQLiteStore

if TYPE_CHECKING:
    from conftest import Harness

AGENTS = """
import pathlib

from podium.core.errors import TransientError

def plain(prompt):
    return prompt

def pair(prompt):
    return (prompt, {1: prompt})  # a tuple and an int key: JSON gives a list and a string key

calls = {}

def flaky(prompt):
    calls[prompt] = calls.get(prompt, 0) + 1
    if calls[prompt] < 2:
        raise TransientError("once")
    return prompt

def gated(prompt):
    # fails until the test writes the file next to the workflow: a failed run, then resumed
    if not (pathlib.Path(__file__).parent / "fixed").exists():
        raise ValueError("not yet")
    return "fixed"
"""

VARIED = """
name: varied
defaults: {retry: {attempts: 1}}
inputs: {pair: {type: array}}
agents:
  plain: {function: "MOD:plain"}
  pair: {function: "MOD:pair"}
  flaky: {function: "MOD:flaky"}
  gated: {function: "MOD:gated"}
steps:
  a: {agent: plain, prompt: a}
  b: {agent: plain, prompt: b}
  c: {agent: pair, prompt: c}
  each: {agent: plain, foreach: [x, y, z], prompt: "{{ item }}", needs: [a]}
  pairs: {agent: pair, foreach: [1, 2], prompt: "{{ item }}"}
  retried: {agent: flaky, prompt: r, retry: {attempts: 3, backoff: 0.01, jitter: false}}
  skipped: {agent: plain, needs: [a], when: "{{ false }}", prompt: s}
  after_skip: {agent: plain, needs: [skipped], prompt: t}
  bad: {agent: gated, prompt: g, on_failure: handle, needs: [b, c, each, pairs, retried]}
  handle: {agent: plain, prompt: "{{ failure.kind }}", recover: true}
  last: {agent: gated, prompt: l, needs: [bad]}
outputs:
  c: "{{ steps.c.output }}"
  each: "{{ steps.each.output }}"
"""

GATED = """
name: gated
agents: {w: {function: "MOD:plain"}}
steps:
  gate: {approval: {message: go?}}
  publish: {agent: w, needs: [gate], prompt: "{{ steps.gate.output.decision }}"}
"""


def same_as_the_log(run: Run, store: SQLiteStore, wf: Workflow) -> None:
    """The run returned is the one its stored events fold to, field by field and as JSON."""
    logged = fold(store.events(run.run_id), wf.steps)
    assert run.to_json() == logged.to_json()
    assert run == logged
    assert run.last_seq == store.last_seq(run.run_id)


def snapshot_as_the_log(store: SQLiteStore, run_id: str, wf: Workflow) -> None:
    """The snapshot the run left (from the fold it kept as it ran) is the log's fold."""
    saved = snapshot.load(store, run_id)
    assert saved is not None and saved.seq == store.last_seq(run_id)
    logged = RunFold(run_id).feed(read_rows(store, run_id))
    assert saved.progress() == logged.progress()
    assert saved.run(wf.steps) == logged.run(wf.steps)


def sqlite(harness: Harness, tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "runs.db")
    harness.store = store  # type: ignore[assignment]
    harness.engine = Engine(plugins=harness.plugins, store=store, clock=harness.clock)
    return store


async def test_a_varied_run_and_its_resume_return_what_their_events_fold_to(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a result folded from the events as they were emitted instead of as they were
    stored (a tuple reply, an int key), and a fold that misses or repeats an event."""
    monkeypatch.setattr(engine, "_PAGE", 3)  # its events fed a few at a time, as a long run's are
    store = sqlite(harness, tmp_path)
    harness.module(AGENTS)
    wf = harness.load(VARIED)

    first = await harness.run(wf, {"pair": ["p", 1]})

    assert first.status == "failed"
    assert first.inputs == {"pair": ["p", 1]}
    assert first.steps["c"].output == ["c", {"1": "c"}]  # as JSON gives it back, as `show` does
    assert first.steps["pairs"].output == [[1, {"1": 1}], [2, {"1": 2}]]
    assert (first.steps["retried"].status, first.steps["retried"].attempts) == ("succeeded", 2)
    assert first.steps["after_skip"].status == "skipped"
    assert first.steps["handle"].status == "succeeded" and first.steps["last"].status == "failed"
    assert first.steps["bad"].output == first.steps["handle"].output  # the handler stood in
    same_as_the_log(first, store, wf)
    snapshot_as_the_log(store, first.run_id, wf)

    (tmp_path / "fixed").write_text("")
    resumed = await harness.engine.resume(first.run_id, wf)

    assert resumed.status == "succeeded" and resumed.steps["last"].output == "fixed"
    assert resumed.outputs == {"c": ["c", {"1": "c"}], "each": ["x", "y", "z"]}
    same_as_the_log(resumed, store, wf)


async def test_a_run_waiting_for_approval_and_its_resume_return_what_their_events_fold_to(
    harness: Harness, tmp_path: Path
) -> None:
    """Catches the same on a run that stops to wait and one that goes on after a decision."""
    store = sqlite(harness, tmp_path)
    harness.module(AGENTS)
    wf = harness.load(GATED)

    waiting = await harness.run(wf)

    assert waiting.status == "waiting"
    same_as_the_log(waiting, store, wf)
    snapshot_as_the_log(store, waiting.run_id, wf)
    assert podium.decide(waiting.run_id, "gate", "approved", by="ann", store=store) == "recorded"
    done = await harness.engine.resume(waiting.run_id, wf)

    assert done.status == "succeeded" and done.steps["publish"].output == "approved"
    assert json.loads(json.dumps(done.steps["gate"].approval))["decision"]["by"] == "ann"
    same_as_the_log(done, store, wf)
