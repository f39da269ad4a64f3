"""What keeps a long run lean: MemoryStore keeps a run's events as columns and compressed texts (read back,
they are what was written), and a fold's steps bound alike share one `bound_to`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from podium.core.events import Event, EventType
from podium.core.replay import fold
from podium.core.store import memory as memory_module
from podium.core.store.base import RunRecord
from podium.core.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)


def _events(n: int) -> list[Event]:
    kinds = [
        EventType.STEP_STARTED,
        EventType.CALL_STARTED,
        EventType.CALL_FINISHED,
        EventType.STEP_SUCCEEDED,
    ]
    return [
        Event(
            "r1",
            seq,
            kinds[seq % 4],
            f"s{seq // 4}",
            1 if seq % 2 else None,
            {"output": "é" * (seq % 5) + "x" * seq, "n": seq, "nested": {"list": [seq, None, True]}},
            START + timedelta(microseconds=seq * 7919),
        )
        for seq in range(1, n + 1)
    ]


def _same(got: list[Event], want: list[Event]) -> None:
    assert [(e.seq, e.type, e.step, e.attempt, e.data, e.at) for e in got] == [
        (e.seq, e.type, e.step, e.attempt, e.data, e.at) for e in want
    ]
    assert all(
        e.at.tzinfo == w.at.tzinfo and type(e.type) is EventType for e, w in zip(got, want, strict=True)
    )


def test_a_long_log_reads_back_exactly_from_any_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "_CHUNK", 4)
    monkeypatch.setattr(memory_module, "_PAGE", 5)
    events = _events(23)  # five chunks and a tail of three
    store = MemoryStore()
    for event in events:
        store.append(event)
    for after in range(25):
        want = [e for e in events if e.seq > after]
        _same(store.events("r1", after=after), want)
        rows = list(store.event_rows("r1", after=after))
        assert rows == [(e.seq, e.at, e.type, e.step, e.attempt, e.data) for e in want]
        for limit in (0, 1, 4, 9):
            _same(store.events("r1", after=after, limit=limit), want[:limit])
    assert store.last_seq("r1") == 23
    # the size podium runs/ls shows: each text's UTF-8 bytes, its type's name and 48 bytes
    texts = sum(len(e.data_json().encode()) + len(str(e.type)) + 48 for e in events)
    record = store._measured(RunRecord("r1", "w", None, None, "running", START, START, None))
    assert (record.events, record.size_bytes) == (23, texts)


def test_late_events_and_times_in_other_zones_keep_their_place_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory_module, "_CHUNK", 3)
    events = _events(14)
    events[2] = replace(events[2], at=datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))))
    events[5] = replace(events[5], at=datetime(2026, 12, 1, 10, 0))  # no zone
    events[7] = replace(events[7], at=datetime(2300, 1, 1, tzinfo=UTC))  # past the exact timestamps
    order = events[:]
    random.Random(7).shuffle(order)
    store = MemoryStore()
    for event in order:
        store.append(event)
    _same(store.events("r1"), events)
    assert list(store.event_rows("r1", after=6)) == [
        (e.seq, e.at, e.type, e.step, e.attempt, e.data) for e in events[6:]
    ]


def test_the_steps_of_a_fold_bound_alike_share_one_bound_to_and_names() -> None:
    bound = {"kind": "function", "id": "agents:noop", "via": "function"}
    other = {"kind": "function", "id": "agents:other", "via": "function"}
    odd = {"kind": "function", "id": 1}  # not all text: 1 == True, so never shared
    steps_ = ["a", "b", "c", "d", "e"]
    events = [Event("r1", 1, EventType.RUN_STARTED, None, None, {"workflow": "w", "steps": steps_})]
    pairs = [("a", bound), ("b", bound), ("c", other), ("d", odd), ("e", {"kind": "function", "id": True})]
    for n, (sid, bound_to) in enumerate(pairs):
        seq = 2 + 4 * n
        events += [
            Event("r1", seq, EventType.STEP_STARTED, sid, None, {"agent": "writer"}),
            Event("r1", seq + 1, EventType.CALL_STARTED, sid, 1, {"provider": "local"}),
            Event(
                "r1", seq + 2, EventType.CALL_FINISHED, sid, 1, {"reply": "ok", "bound_to": dict(bound_to)}
            ),
            Event("r1", seq + 3, EventType.STEP_SUCCEEDED, sid, None, {"output": "ok"}),
        ]
    # each event decoded on its own, as the stores do: its words are new strings each time
    events = [
        Event(e.run_id, e.seq, e.type, e.step, e.attempt, json.loads(json.dumps(e.data))) for e in events
    ]
    steps = fold(events, steps_).steps
    assert [steps[s].bound_to for s in "abcd"] == [bound, bound, other, odd]
    assert steps["e"].bound_to == {"kind": "function", "id": True}
    assert steps["a"].bound_to is steps["b"].bound_to
    assert steps["c"].bound_to is not steps["a"].bound_to
    assert steps["d"].bound_to is not steps["e"].bound_to
    assert steps["a"].agent == "writer" and steps["a"].agent is steps["e"].agent
    assert steps["a"].provider == "local" and steps["a"].provider is steps["e"].provider


SCRIPT = """
import asyncio, sys
from podium.core.engine import Engine
from podium.core.loader import parse
from podium.core.store import MemoryStore
from podium.plugins.manager import load_plugins
at_import = sorted(m for m in ("ruamel", "httpx") if m in sys.modules)
wf = parse(open("wf.yaml").read(), file="wf.yaml", base_dir=__import__("pathlib").Path("."))
run = asyncio.run(Engine(plugins=load_plugins(entry_points_too=False), store=MemoryStore()).run(wf, {}))
print(run.ok, at_import, "httpx" in sys.modules)
"""


def test_a_run_of_python_functions_imports_no_http_client_nor_ruamel_up_front(tmp_path: Path) -> None:
    # httpx (with its CLI's click, rich and pygments) is ~6 MiB of a run that calls no endpoint;
    # ruamel reads only a file with a problem to report, or one libyaml may read differently
    (tmp_path / "fns.py").write_text("async def noop(prompt: str) -> str:\n    return 'ok'\n")
    (tmp_path / "wf.yaml").write_text(
        "name: t\nagents: {w: {function: 'fns:noop'}}\nsteps:\n  a: {agent: w, prompt: go}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "True [] False"
