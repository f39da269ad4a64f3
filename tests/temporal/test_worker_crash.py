"""A worker SIGKILLed in the middle of a 20-step run: the run completes on the other worker, each
finished step ran once, the call in flight is re-issued as the same attempt (the same idempotency
key), and the store's events are complete and in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from temporal_support import start_worker

from podium import api
from podium.core.events import EventType
from podium.core.store import open_store

STEPS = 20
HELPER = """
import os, time

def work(prompt, step):
    with open({log!r}, "a") as f:
        f.write(step + " start " + str(os.getpid()) + "\\n")
    time.sleep(0.25)
    with open({log!r}, "a") as f:
        f.write(step + " done " + str(os.getpid()) + "\\n")
    return step + " ok"
"""


def chain(folder: Path, log: Path) -> Path:
    (folder / "crash_helpers.py").write_text(HELPER.format(log=str(log)), encoding="utf-8")
    steps = "".join(
        f"  s{i}: {{agent: f, prompt: p{i}" + (f", needs: [s{i - 1}]" if i else "") + "}\n"
        for i in range(STEPS)
    )
    path = folder / "crash.yaml"
    path.write_text(
        "name: crash\nagents:\n  f: {function: 'crash_helpers:work'}\nsteps:\n" + steps
        + f"outputs: {{last: '{{{{ steps.s{STEPS - 1}.output }}}}'}}\n",
        encoding="utf-8",
    )  # fmt: skip
    return path


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.slow
def test_a_killed_worker_loses_no_step_and_repeats_none(temporal: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    log = tmp_path / "calls.log"
    path = chain(tmp_path, log)
    env = {"PODIUM_TEMPORAL_HEARTBEAT_SECONDS": "1"}
    workers = [
        start_worker(temporal.address, db, tmp_path, task_queue="crash", name=n, env=env)
        for n in ("wa", "wb")
    ]
    follower = subprocess.Popen(
        [
            sys.executable, "-m", "podium", "run", str(path), "--engine", "temporal", "-q", "--json",
            "--temporal-address", temporal.address, "--task-queue", "crash", "--db", db,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
    )  # fmt: skip
    try:
        # the moment comes from the store: the 6th step's call is on record (and running)
        with closing(open_store(db)) as store:
            deadline = time.monotonic() + 60
            while True:
                runs = store.runs(limit=1)
                if runs and any(
                    e.type is EventType.CALL_STARTED and e.step == "s5" for e in store.events(runs[0].run_id)
                ):
                    break
                assert time.monotonic() < deadline, "the run did not reach s5"
                time.sleep(0.02)
            run_id = runs[0].run_id
        # the worker that makes that call (the function's own log names its process)
        until_started = time.monotonic() + 30
        while not (mine := [ln for ln in _lines(log) if ln.startswith("s5 start")]):
            assert time.monotonic() < until_started, "s5 never started"
            time.sleep(0.01)
        pid = int(mine[0].split()[-1])
        victim = next(w for w in workers if w.proc.pid == pid)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        _, err = follower.communicate(timeout=120)
        assert follower.returncode == 0, err
    finally:
        follower.kill()
        for worker in workers:
            worker.stop()
    assert victim.proc.returncode == -signal.SIGKILL
    run = api.get_run(run_id, store=db)
    assert run.status == "succeeded" and run.outputs == {"last": f"s{STEPS - 1} ok"}
    lines = _lines(log)
    done = Counter(line.split()[0] for line in lines if " done " in line)
    assert done == {f"s{i}": 1 for i in range(STEPS)}  # each finished step ran once
    # s5 was in flight on the killed worker (it never finished there) and was made again elsewhere
    s5 = [line for line in lines if line.startswith("s5 ")]
    assert s5[0] == f"s5 start {pid}" and f"s5 done {pid}" not in s5
    assert len([line for line in s5 if " start " in line]) == 2
    with closing(open_store(db)) as store:
        events = store.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    started = [e for e in events if e.type is EventType.CALL_STARTED]
    # one CallStarted a step: a call re-issued after the kill was the same attempt, the same key
    assert sorted(e.step for e in started) == sorted(f"s{i}" for i in range(STEPS))
    assert {e.data["idempotency_key"] for e in started} == {f"{run_id}:s{i}::1" for i in range(STEPS)}
    assert [e.type for e in events].count(EventType.STEP_SUCCEEDED) == STEPS
    assert events[-1].type is EventType.RUN_FINISHED
