"""The run store: events round-trip exactly, the index follows them, files are handled safely."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from podium.core.errors import RunNotFound, StoreError
from podium.core.events import Event, EventType
from podium.core.spec import Workflow
from podium.core.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    MemoryStore,
    RunStore,
    SQLiteStore,
    default_db_path,
    open_store,
)

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 10, 15, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(every_store: RunStore) -> RunStore:
    """Each test runs against every backend (`every_store`)."""
    return every_store


def started(run_id: str, at: datetime = T0, workflow: str = "wf", **data) -> Event:
    return Event(
        run_id,
        1,
        EventType.RUN_STARTED,
        data={"workflow": workflow, "file": "/w/flow.yaml", "file_hash": "abc123", **data},
        at=at,
    )


def ev(run_id: str, seq: int, type_: EventType, at: datetime | None = None, **kw) -> Event:
    return Event(run_id, seq, type_, at=at or T0 + timedelta(seconds=seq), **kw)


def a_run(store, run_id: str, at: datetime = T0, status: str | None = "succeeded") -> list[Event]:
    events = [
        started(run_id, at),
        ev(run_id, 2, EventType.STEP_STARTED, at + timedelta(seconds=1), step="s", data={}),
    ]
    if status is not None:
        events.append(
            ev(
                run_id,
                3,
                EventType.RUN_FINISHED,
                at + timedelta(seconds=2),
                data={"status": status},
            )
        )
    for e in events:
        store.append(e)
    return events


# --- events ---------------------------------------------------------------------------------


def test_events_round_trip_exactly(store):
    ist = timezone(timedelta(hours=5, minutes=30))
    data = {
        "text": 'naïve café — 日本語 🎻 \u0000 "quoted" \\ back',
        "nested": {"list": [1, 2.5, None, True, False, {"deep": ["x", {"y": []}]}], "empty": {}},
        "big": 2**53 + 1,
        "neg": -0.125,
    }
    events = [
        started("r1"),
        ev("r1", 2, EventType.STEP_STARTED, step="draft", data={"agent": "writer", "items": None}),
        ev(
            "r1",
            3,
            EventType.CALL_STARTED,
            at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=ist),
            step="draft",
            attempt=2,
            data=data,
        ),
        ev("r1", 4, EventType.STEP_SUCCEEDED, step="draft", attempt=None, data={"output": data}),
    ]
    for e in events:
        store.append(e)

    back = store.events("r1")

    assert back == events
    for got, want in zip(back, events, strict=True):
        assert (got.type, got.step, got.attempt, got.data) == (
            want.type,
            want.step,
            want.attempt,
            want.data,
        )
        assert isinstance(got.type, EventType)
        assert got.at.tzinfo is not None
        assert got.at.utcoffset() == want.at.utcoffset()
        assert got.at == want.at
    assert back[2].data["text"] == data["text"]


def test_default_timestamps_are_tz_aware(store):
    store.append(Event("r1", 1, EventType.RUN_STARTED, data={"workflow": "wf"}))
    (back,) = store.events("r1")
    assert back.at.tzinfo is not None
    assert abs(datetime.now(UTC) - back.at) < timedelta(minutes=1)
    assert store.get_run("r1").started_at.tzinfo is not None


def test_events_come_back_in_seq_order_per_run(store):
    store.append(started("a"))
    store.append(started("b"))
    for seq in range(2, 12):
        store.append(ev("a", seq, EventType.STEP_STARTED, step=f"s{seq}"))
        store.append(ev("b", seq, EventType.STEP_STARTED, step=f"t{seq}"))

    a = store.events("a")
    assert [e.seq for e in a] == list(range(1, 12))
    assert {e.run_id for e in a} == {"a"}
    assert [e.seq for e in store.events("a", after=7)] == [8, 9, 10, 11]
    assert store.events("a", after=11) == []
    assert store.events("nobody") == []


def test_events_appended_out_of_order_are_read_in_seq_order(store):
    for seq in (1, 3, 2):
        store.append(ev("r", seq, EventType.STEP_STARTED, step=f"s{seq}"))
    assert [e.seq for e in store.events("r")] == [1, 2, 3]


def test_a_duplicate_seq_is_refused_and_the_first_event_kept(store):
    store.append(started("r"))
    store.append(ev("r", 2, EventType.STEP_STARTED, step="first"))
    with pytest.raises(StoreError, match="already has an event 2") as info:
        store.append(ev("r", 2, EventType.STEP_STARTED, step="second"))
    assert info.value.fix == "is another process driving this run?"
    assert [(e.seq, e.step) for e in store.events("r")] == [(1, None), (2, "first")]


def test_stored_events_do_not_change_when_the_caller_mutates_its_data(store):
    output = {"items": [1, 2]}
    store.append(started("r"))
    store.append(ev("r", 2, EventType.STEP_SUCCEEDED, step="s", data={"output": output}))
    output["items"].append(3)  # e.g. a later python step mutates the value it was handed
    assert store.events("r")[1].data == {"output": {"items": [1, 2]}}


# --- the runs index -------------------------------------------------------------------------


def test_run_started_creates_a_running_index_line(store):
    store.append(started("r1", workflow="research"))
    rec = store.get_run("r1")
    assert (rec.run_id, rec.workflow, rec.file, rec.file_hash) == (
        "r1", "research", "/w/flow.yaml", "abc123",
    )  # fmt: skip
    assert rec.status == "running"
    assert rec.started_at == T0
    assert rec.updated_at == T0
    assert rec.finished_at is None


def test_index_follows_the_run_through_waiting_stopped_resume_and_finish(store):
    store.append(started("r1"))
    store.append(ev("r1", 2, EventType.RUN_WAITING, data={}))
    assert store.get_run("r1").status == "waiting"
    store.append(ev("r1", 3, EventType.RUN_STOPPED, data={"reason": "budget"}))
    rec = store.get_run("r1")
    assert rec.status == "stopped"
    assert rec.finished_at is None
    # a resume appends RunStarted again: back to running
    store.append(Event("r1", 4, EventType.RUN_STARTED, data={"workflow": "wf"}, at=T0 + timedelta(days=4)))
    assert store.get_run("r1").status == "running"
    done_at = T0 + timedelta(days=5)
    store.append(ev("r1", 5, EventType.RUN_FINISHED, at=done_at, data={"status": "succeeded"}))
    rec = store.get_run("r1")
    assert rec.status == "succeeded"
    assert rec.finished_at == done_at
    assert rec.finished_at.tzinfo is not None
    assert rec.updated_at == done_at
    assert rec.started_at == T0  # the first start, not the resume


def test_run_finished_without_a_status_counts_as_failed(store):
    store.append(started("r1"))
    store.append(ev("r1", 2, EventType.RUN_FINISHED, data={}))
    assert store.get_run("r1").status == "failed"


def test_other_events_leave_the_index_alone(store):
    store.append(started("r1"))
    store.append(ev("r1", 2, EventType.STEP_FAILED, step="s", data={"kind": "auth"}))
    store.append(ev("r1", 3, EventType.CALL_FINISHED, step="s", data={"status": "succeeded"}))
    rec = store.get_run("r1")
    assert rec.status == "running"
    assert rec.updated_at == T0


def test_runs_lists_newest_first_with_limit_and_status(store):
    a_run(store, "old", T0, "succeeded")
    a_run(store, "mid", T0 + timedelta(hours=1), "failed")
    a_run(store, "new", T0 + timedelta(hours=2), None)
    assert [r.run_id for r in store.runs()] == ["new", "mid", "old"]
    assert [r.run_id for r in store.runs(limit=2)] == ["new", "mid"]
    assert [r.run_id for r in store.runs(status="failed")] == ["mid"]
    assert [r.run_id for r in store.runs(status="running")] == ["new"]
    assert store.runs(status="cancelled") == []


def test_run_record_counts_events_and_size(store):
    small = a_run(store, "small", T0)
    store.append(started("big", T0 + timedelta(hours=1)))
    big = [store.events("big")[0]]
    for seq in range(2, 12):
        e = ev("big", seq, EventType.STEP_SUCCEEDED, step="s", data={"output": "x" * 500})
        store.append(e)
        big.append(e)
    rec_small, rec_big = store.get_run("small"), store.get_run("big")
    assert rec_small.events == len(small) == 3
    assert rec_big.events == 11
    assert rec_small.size_bytes > 0
    assert rec_big.size_bytes >= sum(len(e.data_json().encode()) for e in big)
    assert rec_big.size_bytes > rec_small.size_bytes
    assert {r.run_id: r.events for r in store.runs()} == {"small": 3, "big": 11}


def test_size_bytes_counts_bytes_not_characters(store):
    store.append(started("r"))
    e = ev("r", 2, EventType.STEP_SUCCEEDED, step="s", data={"output": "€" * 1000})
    store.append(e)
    assert len(e.data_json().encode()) > 3000
    assert store.get_run("r").size_bytes >= 3000 + len(started("r").data_json().encode())


# --- get_run --------------------------------------------------------------------------------


def test_get_run_by_id_unique_prefix_and_latest(store):
    a_run(store, "20261126-101500-aaaaaa", T0)
    a_run(store, "20261126-101500-abbbbb", T0 + timedelta(minutes=1))
    a_run(store, "20261127-090000-cccccc", T0 + timedelta(days=1))
    assert store.get_run("20261126-101500-aaaaaa").run_id == "20261126-101500-aaaaaa"
    assert store.get_run("20261126-101500-ab").run_id == "20261126-101500-abbbbb"
    assert store.get_run("20261127").run_id == "20261127-090000-cccccc"
    assert store.get_run("latest").run_id == "20261127-090000-cccccc"


def test_an_exact_id_wins_over_a_longer_id_it_prefixes(store):
    a_run(store, "abc", T0)
    a_run(store, "abcd", T0 + timedelta(minutes=1))
    assert store.get_run("abc").run_id == "abc"


def test_a_prefix_is_literal_not_a_pattern(store):
    a_run(store, "run_1", T0)
    a_run(store, "runX1", T0 + timedelta(minutes=1))
    assert store.get_run("run_").run_id == "run_1"


def test_a_percent_sign_does_not_match_any_run(store):
    a_run(store, "20261126-101500-aaaaaa")
    with pytest.raises(RunNotFound):
        store.get_run("%")
    with pytest.raises(RunNotFound):
        store.get_run("2026%aaa")


def test_an_ambiguous_prefix_is_refused_with_a_fix(store):
    a_run(store, "20261126-101500-aaaaaa", T0)
    a_run(store, "20261126-101500-abbbbb", T0 + timedelta(minutes=1))
    with pytest.raises(RunNotFound) as info:
        store.get_run("20261126-101500-a")
    err = info.value
    assert err.exit_code == 2
    assert "20261126-101500-a" in err.message
    assert "more than one" in err.message
    assert err.fix


def test_an_unknown_run_is_refused_with_a_fix(store):
    a_run(store, "r1")
    with pytest.raises(RunNotFound) as info:
        store.get_run("nope")
    assert info.value.exit_code == 2
    assert "nope" in info.value.message
    assert info.value.fix


def test_latest_in_an_empty_store_is_run_not_found(store):
    with pytest.raises(RunNotFound) as info:
        store.get_run("latest")
    assert info.value.exit_code == 2


# --- the SQLite file ------------------------------------------------------------------------


def test_wal_mode_and_schema_version_are_recorded(tmp_path):
    path = tmp_path / "p.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert len(MIGRATIONS) == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"events", "runs"} <= tables
    finally:
        db.close()


def test_reopening_an_up_to_date_database_changes_nothing_and_keeps_events(tmp_path):
    path = tmp_path / "p.db"
    s = SQLiteStore(path)
    events = a_run(s, "r1")
    s.close()

    s = SQLiteStore(path)
    try:
        assert s.events("r1") == events
        assert s.get_run("r1").status == "succeeded"
        assert s.get_run("r1").events == 3
        s.append(ev("r1", 4, EventType.RUN_STARTED, data={"workflow": "wf"}))
        assert s.get_run("r1").status == "running"
    finally:
        s.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_database_from_a_newer_podium_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "p.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute("INSERT INTO future VALUES (1)")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 7}")
    db.commit()
    db.close()
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    siblings = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(StoreError) as info:
        SQLiteStore(path)

    err = info.value
    assert err.exit_code == 2
    assert "newer podium" in err.message
    assert str(SCHEMA_VERSION + 7) in err.message
    assert err.fix and "upgrade" in err.fix
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no -wal / -shm left behind


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 64, id="random-bytes"),
        pytest.param(b"name: flow\nsteps: {}\n" * 50, id="a-yaml-file"),
    ],
)
def test_a_file_that_is_not_sqlite_is_refused_clearly(tmp_path, content):
    path = tmp_path / "p.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    err = info.value
    assert err.exit_code == 2
    assert str(path) in err.message
    assert "podium database" in err.message
    assert err.fix and ("PODIUM_DB" in err.fix or "--db" in err.fix)
    assert "Traceback" not in str(err)
    assert path.read_bytes() == content


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "p.db"
    content = b"\x00not-sqlite" + os.urandom(8192)
    path.write_bytes(content)
    with pytest.raises(StoreError, match="cannot use this file as a podium database"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_the_store_creates_missing_parent_directories(tmp_path):
    path = tmp_path / "deep" / "er" / "p.db"
    s = open_store(path)
    try:
        a_run(s, "r1")
        assert s.get_run("latest").run_id == "r1"
    finally:
        s.close()
    assert path.is_file()


def test_default_db_path_honours_podium_db(monkeypatch, tmp_path):
    monkeypatch.setenv("PODIUM_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.delenv("PODIUM_DB")
    assert default_db_path() == Path.home() / ".podium" / "podium.db"


def test_every_store_satisfies_the_protocol(store):
    assert isinstance(store, RunStore)


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from podium.core.events import Event, EventType
    from podium.core.store import SQLiteStore

    path, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SQLiteStore(path)
    print("ready", flush=True)
    sys.stdin.readline()
    store.append(Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": "child"}))
    for seq in range(2, count):
        store.append(Event(run_id, seq, EventType.STEP_STARTED, step=f"s{seq}", data={"n": seq}))
    store.append(Event(run_id, count, EventType.RUN_FINISHED, data={"status": "succeeded"}))
    store.close()
    print("done", flush=True)
    """
)


def _writer(path: Path, run_id: str, count: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), run_id, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "p.db"
    count = 300
    s = SQLiteStore(path)
    child = _writer(path, "child", count)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        child.stdin.write("go\n")
        child.stdin.flush()
        s.append(Event("parent", 1, EventType.RUN_STARTED, data={"workflow": "parent"}))
        for seq in range(2, count):
            s.append(Event("parent", seq, EventType.STEP_STARTED, step=f"s{seq}", data={"n": seq}))
        s.append(Event("parent", count, EventType.RUN_FINISHED, data={"status": "succeeded"}))
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert out.strip() == "done"

        for run_id in ("parent", "child"):
            events = s.events(run_id)
            assert [e.seq for e in events] == list(range(1, count + 1))
            assert [e.data.get("n") for e in events[1:-1]] == list(range(2, count))
            rec = s.get_run(run_id)
            assert (rec.workflow, rec.status, rec.events) == (run_id, "succeeded", count)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        s.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_two_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "fresh.db"
    children = [_writer(path, f"c{i}", 20) for i in range(2)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            _, err = child.communicate(timeout=30)
            assert child.returncode == 0, err
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    s = SQLiteStore(path)
    try:
        assert sorted(r.run_id for r in s.runs()) == ["c0", "c1"]
        assert all(len(s.events(r)) == 20 for r in ("c0", "c1"))
    finally:
        s.close()


# --- transactions ---------------------------------------------------------------------------


def test_a_database_at_schema_1_is_migrated_and_keeps_its_runs(tmp_path):
    """A file an older podium wrote (only the first migration) opens, and gains leases and inbox."""
    path = tmp_path / "p.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO runs (run_id, workflow, status, started_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ("old", "wf", "succeeded", T0.isoformat(), T0.isoformat()),
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    s = SQLiteStore(path)
    try:
        assert s.get_run("old").status == "succeeded"
        assert s.acquire_lease("old", "me").owner == "me"
        s.post("old", "approve", {"by": "ann"})
        assert [m.kind for m in s.take("old")] == ["approve"]
    finally:
        s.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_failed_transaction_leaves_no_partial_write(tmp_path):
    path = tmp_path / "p.db"
    s = SQLiteStore(path)
    try:
        s.append(started("r1"))
        with pytest.raises(RuntimeError, match="half way"), s._transaction() as db:
            db.execute(
                "INSERT INTO events (run_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)",
                ("r1", 2, T0.isoformat(), str(EventType.RUN_FINISHED), "{}"),
            )
            db.execute("UPDATE runs SET status='failed' WHERE run_id='r1'")
            raise RuntimeError("half way")
        assert s.last_seq("r1") == 1 and s.get_run("r1").status == "running"
        other = sqlite3.connect(path)  # what another process sees
        assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        other.close()
        # nothing was left open: the store goes on writing
        s.append(ev("r1", 2, EventType.RUN_FINISHED, data={"status": "succeeded"}))
        assert s.get_run("r1").status == "succeeded"
    finally:
        s.close()


def test_an_event_whose_index_change_fails_is_not_kept(tmp_path):
    s = SQLiteStore(tmp_path / "p.db")
    try:
        s.append(started("r1"))
        with s._transaction() as db:
            db.execute("ALTER TABLE runs RENAME TO runs_away")  # the index update will fail
        with pytest.raises(sqlite3.OperationalError):
            s.append(ev("r1", 2, EventType.RUN_FINISHED, data={"status": "succeeded"}))
        assert s.last_seq("r1") == 1  # the event went with its index change
    finally:
        s.close()


# --- derived tables (a plugin's own tables in the store's database) -------------------------

_LEDGER = "CREATE TABLE IF NOT EXISTS tally (run_id TEXT NOT NULL, n INTEGER NOT NULL)"


@pytest.fixture(params=["sqlite", "sqlite-in-memory", "memory"])
def any_store(request, tmp_path):
    s = {
        "sqlite": lambda: SQLiteStore(tmp_path / "p.db"),
        "sqlite-in-memory": lambda: SQLiteStore(":memory:"),
        "memory": MemoryStore,
    }[request.param]()
    yield s
    s.close()


def tally(store) -> list[tuple[str, int]]:
    with store.derived_tables() as db:
        return [tuple(r) for r in db.execute("SELECT run_id, n FROM tally ORDER BY run_id, n")]


def test_derived_tables_last_as_long_as_the_store(any_store):
    with any_store.derived_tables() as db:
        db.execute(_LEDGER)
        with db.transaction():
            db.executemany("INSERT INTO tally VALUES (?, ?)", [("r1", 1), ("r2", 2)])
    assert tally(any_store) == [("r1", 1), ("r2", 2)]  # seen again through a second handle


def test_a_failed_derived_transaction_writes_nothing(any_store):
    with any_store.derived_tables() as db:
        db.execute(_LEDGER)
        db.execute("INSERT INTO tally VALUES ('r1', 1)")
        with pytest.raises(ValueError), db.transaction():
            db.execute("DELETE FROM tally")
            db.execute("INSERT INTO tally VALUES ('r1', 2)")
            raise ValueError("the fold broke")
    assert tally(any_store) == [("r1", 1)]


def test_deleting_a_run_deletes_its_derived_rows(any_store):
    a_run(any_store, "r1")
    a_run(any_store, "r2")
    with any_store.derived_tables() as db:
        db.execute(_LEDGER)
        db.executemany("INSERT INTO tally VALUES (?, ?)", [("r1", 1), ("r2", 2)])
    any_store.delete_run("r1")
    assert tally(any_store) == [("r2", 2)]
    assert [r.run_id for r in any_store.runs()] == ["r2"]


def test_derived_tables_live_in_the_store_file_and_survive_reopening(tmp_path):
    path = tmp_path / "p.db"
    s = SQLiteStore(path)
    with s.derived_tables() as db:
        db.execute(_LEDGER)
        db.execute("INSERT INTO tally VALUES ('r1', 7)")
    s.close()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT run_id, n FROM tally").fetchall() == [("r1", 7)]
    raw.close()
    s = SQLiteStore(path)
    try:
        assert tally(s) == [("r1", 7)]
    finally:
        s.close()


def test_memory_stores_do_not_share_derived_tables():
    one, two = MemoryStore(), MemoryStore()
    with one.derived_tables() as db:
        db.execute(_LEDGER)
    with two.derived_tables() as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert tables == []


# --- through the engine ---------------------------------------------------------------------


async def test_a_real_run_is_indexed_from_its_events(tmp_path):
    import podium

    wf = Workflow.model_validate(
        {
            "name": "indexed",
            "agents": {"writer": {}},
            "steps": {
                "a": {"agent": "writer", "prompt": "hi"},
                "b": {"agent": "writer", "needs": "a"},
            },
            "mock": {"writer": ["one", "two"]},
        }
    )
    path = tmp_path / "p.db"
    run = await podium.arun(wf, store=path)
    assert run.ok

    s = SQLiteStore(path)
    try:
        events = s.events(run.run_id)
        assert events[0].type is EventType.RUN_STARTED
        assert events[-1].type is EventType.RUN_FINISHED
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        rec = s.get_run("latest")
        assert rec.run_id == run.run_id
        assert (rec.workflow, rec.status, rec.events) == ("indexed", "succeeded", len(events))
        assert rec.finished_at == events[-1].at
        assert podium.get_run(run.run_id[:12], store=s).steps["b"].output == "two"
    finally:
        s.close()


def test_a_batch_is_written_whole_or_not_at_all(store):
    store.append(started("b"))
    good = [Event("b", 2, EventType.STEP_STARTED, step="s"), Event("b", 3, EventType.STEP_STARTED, step="t")]
    store.append_many([(e, e.data_json()) for e in good])
    clash = [Event("b", 4, EventType.STEP_STARTED, step="u"), Event("b", 3, EventType.STEP_STARTED, step="v")]
    with pytest.raises(StoreError, match="events are append-only"):
        store.append_many([(e, e.data_json()) for e in clash])
    assert [(e.seq, e.step) for e in store.events("b")] == [(1, None), (2, "s"), (3, "t")]


# --- leases, the inbox and run lookup, on both stores (found by mutation testing) ------------------


def test_a_live_lease_of_another_process_is_not_taken_and_its_own_is_renewed(store) -> None:
    store.append(started("r"))
    me, other = f"{socket.gethostname()}:{os.getpid()}:me", f"{socket.gethostname()}:{os.getpid()}:other"
    before = time.time()
    mine = store.acquire_lease("r", other, ttl=60)
    assert (
        mine.owner == other and mine.expires is not None and before + 59 <= mine.expires <= time.time() + 61
    )
    # another live owner's lease stands: acquiring says who holds it, renewing says no
    held = store.acquire_lease("r", me, ttl=60)
    assert (held.owner, held.expires) == (other, mine.expires)
    assert store.renew_lease("r", me, ttl=60) is False
    assert store.lease("r").owner == other
    # the owner renews: its lease runs on from now
    assert store.renew_lease("r", other, ttl=120) is True
    renewed = store.lease("r")
    assert renewed.owner == other and renewed.expires is not None and renewed.expires >= before + 119
    store.release_lease("r", me)  # not mine to give back
    assert store.lease("r").owner == other
    store.release_lease("r", other)
    assert store.acquire_lease("r", me).owner == me


def test_the_inbox_gives_back_what_was_posted_in_order_and_only_once(store) -> None:
    store.append(started("r"))
    store.post("r", "decision", {"step": "gate", "by": "ann"})
    store.post("r", "cancel", {"by": "bob"})
    taken = store.take("r")
    assert [(m.kind, m.data) for m in taken] == [
        ("decision", {"step": "gate", "by": "ann"}),
        ("cancel", {"by": "bob"}),
    ]
    assert all(isinstance(m.at, datetime) and m.at.tzinfo is not None for m in taken)
    assert store.take("r") == []
    store.post("r", "cancel", {"by": "cy"})
    assert [m.data for m in store.take("r")] == [{"by": "cy"}]


def test_a_run_is_found_by_a_unique_prefix_and_an_unknown_one_lists_recent_runs(store) -> None:
    store.append(started("20261126-aaa", workflow="alpha"))
    store.append(started("20261126-bbb", at=T0 + timedelta(seconds=5), workflow="beta"))
    assert store.get_run("20261126-a").run_id == "20261126-aaa"
    assert store.get_run("latest").run_id == store.get_run("last").run_id == "20261126-bbb"
    with pytest.raises(RunNotFound, match="matches more than one run"):
        store.get_run("20261126-")
    with pytest.raises(RunNotFound) as info:
        store.get_run("nope")
    assert info.value.fix is not None
    assert info.value.fix.startswith(
        "recent runs: 20261126-bbb (beta, running), 20261126-aaa (alpha, running); `podium runs` lists more"
    )
    # a prefix is taken literally: _ % and \\ in it are not patterns
    store.append(started("x_1\\y", workflow="odd"))
    store.append(started("xa1", workflow="odd"))
    assert store.get_run("x_").run_id == "x_1\\y"
    assert store.get_run("x_1\\").run_id == "x_1\\y"


def test_open_store_without_a_path_opens_the_default_database(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PODIUM_DB", str(tmp_path / "default.db"))
    s = open_store()
    try:
        s.append(started("r"))
    finally:
        s.close()
    assert (tmp_path / "default.db").exists()


def test_a_lease_is_taken_again_by_its_owner_and_unknown_runs_have_none(store) -> None:
    store.append(started("r"))
    me = f"{socket.gethostname()}:{os.getpid()}:me"
    store.acquire_lease("r", me, ttl=60)
    again = store.acquire_lease("r", me, ttl=600)  # a resume by the same owner: the lease runs on
    assert again.owner == me and again.expires is not None and again.expires >= time.time() + 590
    assert (store.lease("nobody").owner, store.lease("nobody").expires) == (None, None)
    with pytest.raises(RunNotFound, match="no run 'nobody'"):
        store.acquire_lease("nobody", me)
