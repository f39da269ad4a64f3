"""The crash matrix: 30 runs of a 20-step workflow (a fan-out and an approval) on Bedrock's emulator,
each SIGKILLed at a seeded event, then resumed (and approved) to the end.

Each run is driven by a real process of its own that kills itself right after its K-th event is
durable (K drawn from a seeded generator over the whole run, the approval included); three such
processes run at once against one database. After each kill the database passes `PRAGMA
integrity_check`. Then the run is resumed to the end, and:

- it succeeds, with the outputs of a clean run, and one `RunFinished`, last;
- every call whose reply was recorded before the kill was made once; the others at most once more
  (the call in flight at the kill), counted by the emulated model itself;
- podium's usage and cost equal a clean run's, and what the emulator billed equals a clean run's
  plus only the attempts that were in flight at the kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from reliability_support import TARGETS, Clouds, Target, write, yaml_of

import podium.cli
from podium import api
from podium.core.calls import Usage
from podium.core.events import Event, EventType
from podium.core.store import SQLiteStore
from podium.providers._kit.brains import Answer, Turn

pytestmark = pytest.mark.slow

RUNS = 30
AT_ONCE = 3  # processes killed and resumed side by side, on one database
SEED = 20261201
CONVERSE: Target = next(t for t in TARGETS if t.name == "bedrock-converse")
Key = tuple[str, str]  # (step, prompt): one call of a step or of one foreach item


def steps() -> dict[str, dict[str, Any]]:
    """20 steps: a diamond, a chain, a 4-way fan-out, an approval, another diamond and chain."""
    flow: dict[str, dict[str, Any]] = {"s01": {"agent": "w", "prompt": "begin"}}
    for sid, needs in (("s02", ["s01"]), ("s03", ["s01"]), ("s04", ["s02", "s03"])):
        said = " + ".join(f"{{{{ steps.{n}.output }}}}" for n in needs)
        flow[sid] = {"agent": "w", "needs": needs, "prompt": f"{said} > {sid}"}
    for n in range(5, 9):
        prev = f"s{n - 1:02d}"
        flow[f"s{n:02d}"] = {
            "agent": "w",
            "needs": [prev],
            "prompt": f"{{{{ steps.{prev}.output }}}} > s{n:02d}",
        }
    flow["fan"] = {
        "agent": "w",
        "needs": ["s08"],
        "foreach": ["a", "b", "c", "d"],
        "prompt": "{{ steps.s08.output }} > {{ item }}",
    }
    flow["gate"] = {"needs": ["fan"], "approval": {"message": "Go on with {{ steps.fan.output | length }}?"}}
    flow["s09"] = {"agent": "w", "needs": ["gate"], "prompt": "{{ steps.fan.output | join(',') }} > s09"}
    flow["s10"] = {"agent": "w", "needs": ["s09"], "prompt": "{{ steps.s09.output }} > s10"}
    flow["s11"] = {"agent": "w", "needs": ["s09"], "prompt": "{{ steps.s09.output }} > s11"}
    flow["s12"] = {
        "agent": "w",
        "needs": ["s10", "s11"],
        "prompt": "{{ steps.s10.output }} + {{ steps.s11.output }}",
    }
    for n in range(13, 19):
        prev = f"s{n - 1:02d}"
        flow[f"s{n:02d}"] = {
            "agent": "w",
            "needs": [prev],
            "prompt": f"{{{{ steps.{prev}.output }}}} > s{n:02d}",
        }
    assert len(flow) == 20
    return flow


class Model:
    """The emulated model: a deterministic reply and usage per prompt, and a log of what it billed."""

    def __init__(self) -> None:
        self.billed: list[tuple[str | None, Key, Usage]] = []
        self.lock = threading.Lock()

    def __call__(self, turn: Turn) -> Answer:
        time.sleep(0.01)  # a call takes a moment, so that kills find calls in flight
        digest = hashlib.sha256(turn.prompt.encode()).hexdigest()[:6]
        text = f"{turn.step}#{digest}"
        usage = Usage(input_tokens=10 + len(turn.prompt) % 97, output_tokens=len(text) + int(digest, 16) % 13)
        with self.lock:
            self.billed.append((turn.run_id, (str(turn.step), turn.prompt), usage))
        return Answer(text=text, usage=usage)

    def calls(self, run_id: str) -> Counter[Key]:
        with self.lock:
            return Counter(key for rid, key, _ in self.billed if rid == run_id)

    def tokens(self, run_id: str) -> tuple[int, int]:
        with self.lock:
            used = [u for rid, _, u in self.billed if rid == run_id]
        return sum(u.input_tokens for u in used), sum(u.output_tokens for u in used)

    def usage_of(self, key: Key) -> Usage:
        with self.lock:
            return next(u for _, k, u in self.billed if k == key)


DRIVER = """
import asyncio, os, signal, sys
from podium import api

db, flow, run_id, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class Killer:
    def podium_event(self, event):
        if event.seq >= kill_at:  # the event is durable: this is the moment after it
            os.kill(os.getpid(), signal.SIGKILL)


async def drive():
    run = await api.arun(flow, store=db, run_id=run_id, observers=[Killer()])
    while str(run.status) == "waiting":
        api.decide(run_id, "gate", "approved", by="crash-matrix", store=db)
        run = await api.aresume(run_id, store=db, observers=[Killer()])


asyncio.run(drive())
sys.exit(3)  # the run ended before its K-th event
"""


@dataclass
class Crashed:
    run_id: str
    kill_at: int
    proc: subprocess.Popen[str]


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def events_of(db: Path, run_id: str) -> list[Event]:
    store = SQLiteStore(db)
    try:
        return store.events(run_id)
    finally:
        store.close()


def to_the_end(db: Path, run_id: str) -> None:
    """Resume the run, approving its gate when it waits there, until it ends."""
    for _ in range(4):
        run = api.resume(run_id, store=db)
        if str(run.status) != "waiting":
            return
        api.decide(run_id, "gate", "approved", by="crash-matrix", store=db)
    raise AssertionError(f"{run_id} never ended")


def calls_in(events: list[Event], which: EventType) -> set[Key]:
    return {(str(e.step), prompt) for e, prompt in _with_prompts(events) if e.type is which}


def _with_prompts(events: list[Event]) -> Iterator[tuple[Event, str]]:
    """Each call event with the prompt of the call it belongs to."""
    prompts: dict[tuple[str | None, Any], str] = {}
    for e in events:
        if e.type is EventType.CALL_STARTED:
            prompts[(e.step, e.data.get("item"))] = str(e.data["prompt"])
        if e.type in (EventType.CALL_STARTED, EventType.CALL_FINISHED, EventType.CALL_FAILED):
            yield e, prompts[(e.step, e.data.get("item"))]


def inflight(events: list[Event]) -> set[Key]:
    """The calls that started and never ended, as the events tell it."""
    open_: set[Key] = set()
    for e, prompt in _with_prompts(events):
        key = (str(e.step), prompt)
        if e.type is EventType.CALL_STARTED:
            open_.add(key)
        else:
            open_.discard(key)
    return open_


def shown(db: Path, run_id: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        podium.cli.cli, ["show", run_id, "--json", "--db", str(db)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def model(clouds: Clouds) -> Model:
    brain = Model()
    clouds.emulator(CONVERSE).brain = brain
    return brain


@pytest.fixture(scope="module")
def flow_file(tmp_path_factory: pytest.TempPathFactory, clouds: Clouds) -> Path:
    providers = {"bedrock": clouds.settings(CONVERSE)}
    return write(
        tmp_path_factory.mktemp("crash") / "crash.yaml",
        f"""
        name: crash
        defaults: {{retry: {{attempts: 2, backoff: 0.01}}, concurrency: 8}}
        providers: {yaml_of(providers)}
        agents:
          w: {yaml_of(clouds.agent(CONVERSE, "w"))}
        steps: {yaml_of(steps())}
        outputs: {{final: "{{{{ steps.s18.output }}}}", fan: "{{{{ steps.fan.output }}}}"}}
        """,
    )


def test_sigkill_at_seeded_events_then_resume_completes_every_run_once(
    flow_file: Path, model: Model, clouds: Clouds
) -> None:
    db = flow_file.parent / "runs.db"
    # a clean run: what every crashed run must end as, and how many events a run has
    first = api.run(flow_file, store=db, run_id="clean")
    assert str(first.status) == "waiting"
    api.decide("clean", "gate", "approved", by="crash-matrix", store=db)
    to_the_end(db, "clean")
    clean = shown(db, "clean")
    assert clean["status"] == "succeeded"
    clean_events = events_of(db, "clean")
    total = len(clean_events)
    clean_calls = model.calls("clean")
    assert sum(clean_calls.values()) == 22 and set(clean_calls.values()) == {1}

    rng = random.Random(SEED)
    plan = [(f"crash-{i:02d}", rng.randint(1, total - 1)) for i in range(RUNS)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # byte-code compiled once for the 30 processes, kept out of the source tree
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "podium-reliability-pycache")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    pending = list(plan)
    running: list[Crashed] = []
    killed: dict[str, tuple[int, set[Key], set[Key]]] = {}
    waited = resumed = 0.0
    while pending or running:
        while pending and len(running) < AT_ONCE:
            run_id, kill_at = pending.pop(0)
            proc = subprocess.Popen(
                [sys.executable, "-c", DRIVER, str(db), str(flow_file), run_id, str(kill_at)],
                cwd=flow_file.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            running.append(Crashed(run_id, kill_at, proc))
        done = running.pop(0)
        t0 = time.monotonic()
        _, err = done.proc.communicate(timeout=120)
        waited += time.monotonic() - t0
        assert done.proc.returncode == -9, (done.run_id, done.kill_at, done.proc.returncode, err[-2000:])
        assert integrity(db) == "ok", f"corrupt after killing {done.run_id} at event {done.kill_at}"
        before = events_of(db, done.run_id)
        assert before[-1].seq >= done.kill_at and not any(e.type is EventType.RUN_FINISHED for e in before)
        killed[done.run_id] = (done.kill_at, inflight(before), calls_in(before, EventType.CALL_FINISHED))
        t0 = time.monotonic()
        to_the_end(db, done.run_id)
        resumed += time.monotonic() - t0
        assert integrity(db) == "ok"

    extra_billed = 0
    for run_id, (kill_at, open_calls, replied) in killed.items():
        after = shown(db, run_id)
        assert after["status"] == "succeeded", (run_id, kill_at, after.get("error"))
        assert after["outputs"] == clean["outputs"]
        assert {s: v["output"] for s, v in after["steps"].items()} == {
            s: v["output"] for s, v in clean["steps"].items()
        }
        events = events_of(db, run_id)
        finished = [e for e in events if e.type is EventType.RUN_FINISHED]
        assert len(finished) == 1 and finished[0] is events[-1]
        # each call ran once; a call in flight at the kill at most once more; a recorded one never again
        calls = model.calls(run_id)
        assert set(calls) == set(clean_calls), run_id
        for key, count in calls.items():
            allowed = 2 if key in open_calls else 1
            assert 1 <= count <= allowed, (run_id, kill_at, key, count, open_calls)
            if key in replied:
                assert count == 1, (run_id, key)
        # podium's usage and cost are a clean run's; the emulator billed that plus the in-flight repeats
        assert after["usage"] == clean["usage"]
        assert after["cost"]["total_usd"] == clean["cost"]["total_usd"]
        repeats = [key for key, count in calls.items() if count == 2]
        extra = [model.usage_of(k) for k in repeats]
        clean_in, clean_out = model.tokens("clean")
        assert model.tokens(run_id) == (
            clean_in + sum(u.input_tokens for u in extra),
            clean_out + sum(u.output_tokens for u in extra),
        )
        extra_billed += len(repeats)
    print(
        f"crash matrix: {RUNS} kills, {extra_billed} attempts in flight at a kill billed twice;"
        f" killed processes {waited:.0f}s, resumes in this process {resumed:.0f}s"
    )
