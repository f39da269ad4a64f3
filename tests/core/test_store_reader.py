"""What a reader of the run store gets, on every backend: the messages and fixes it is given, runs
found by id, the default database, and events kept whatever a plugin's derived tables do.

Written against the survivors of `make mutate MODULE=store.` (docs/testing.md): each test names the
behaviour, not the line, so it holds when a store's internals change for speed.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

from podium.core.errors import DatabaseFault, ExtraMissing, RunNotFound, StoreError
from podium.core.events import Event, EventType
from podium.core.store import MemoryStore, RunStore, SQLiteStore, open_store
from podium.core.store.faults import store_error

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(every_store: RunStore) -> RunStore:
    """Each test runs against every backend (`every_store`)."""
    return every_store


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request, tmp_path):
    """The stores that write a batch in one SQL transaction."""
    s = open_store(
        request.getfixturevalue("postgres_url") if request.param == "postgres" else tmp_path / "p.db"
    )
    yield s
    s.close()


def started(run_id: str, at: datetime = T0, workflow: str = "wf") -> Event:
    return Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": workflow}, at=at)


def step(run_id: str, seq: int, name: str = "s") -> Event:
    return Event(run_id, seq, EventType.STEP_STARTED, step=name, at=T0 + timedelta(seconds=seq))


# --- finding a run ------------------------------------------------------------------------------


def test_a_run_id_with_a_percent_sign_is_found_by_its_prefix(store) -> None:
    store.append(started("50%-off-run"))
    store.append(started("50x-other", at=T0 + timedelta(seconds=1)))
    assert store.get_run("50%").run_id == "50%-off-run"
    assert store.get_run("50%-o").run_id == "50%-off-run"


def test_an_ambiguous_prefix_says_to_give_more_of_the_id(store) -> None:
    store.append(started("run-a"))
    store.append(started("run-b", at=T0 + timedelta(seconds=1)))
    with pytest.raises(RunNotFound, match="'run-' matches more than one run") as info:
        store.get_run("run-")
    assert info.value.fix == "give more of the run id"


def test_an_unknown_run_lists_the_five_most_recent_and_says_where_it_looked(store) -> None:
    for n in range(7):
        store.append(started(f"run-{n}", at=T0 + timedelta(minutes=n), workflow=f"w{n}"))
    with pytest.raises(RunNotFound, match="no run 'nope'") as info:
        store.get_run("nope")
    fix = info.value.fix or ""
    listed = fix.split("; ")[0]
    assert listed == "recent runs: " + ", ".join(f"run-{n} (w{n}, running)" for n in (6, 5, 4, 3, 2))
    where = "check --db" if isinstance(store, MemoryStore) else "check --db / PODIUM_DB"
    assert fix.split("; ")[1] == f"`podium runs` lists more ({where})"


# --- errors of a refused batch ------------------------------------------------------------------


def test_a_batch_clashing_with_the_log_names_its_first_and_last_seq(sql_store) -> None:
    sql_store.append(started("b"))
    sql_store.append(step("b", 3))
    batch = [step("b", 2, "x"), step("b", 3, "y"), step("b", 4, "z")]
    with pytest.raises(StoreError) as info:
        sql_store.append_many([(e, e.data_json()) for e in batch])
    assert info.value.message == "run b already has an event among 2 to 4; events are append-only"
    assert info.value.fix == "is another process driving this run?"
    assert [e.seq for e in sql_store.events("b")] == [1, 3]


# --- the default database -----------------------------------------------------------------------


def test_podium_db_naming_a_database_url_connects_to_that_server(tmp_path, monkeypatch) -> None:
    # a port nobody listens on: the error is PostgreSQL's, so the URL was taken as one (not a file)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PODIUM_DB", "postgresql://ann:s3cret@127.0.0.1:9/podium")
    with pytest.raises(
        StoreError, match=re.escape("cannot connect to the database postgresql://ann@127.0.0.1:9/podium")
    ) as info:
        open_store()
    assert "s3cret" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite file made of the URL


def test_podium_db_with_a_tilde_is_a_file_in_the_home_folder(tmp_path, monkeypatch) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PODIUM_DB", "~/runs.db")
    s = open_store()
    try:
        s.append(started("r"))
    finally:
        s.close()
    assert (home / "runs.db").is_file()
    assert list(elsewhere.iterdir()) == []


def test_a_home_that_is_not_there_matters_only_when_no_database_is_named(tmp_path, monkeypatch) -> None:
    # a service account or container with HOME unset or gone still runs with --db or PODIUM_DB
    monkeypatch.setenv("HOME", str(tmp_path / "gone"))
    monkeypatch.delenv("PODIUM_DB", raising=False)
    open_store(tmp_path / "named.db").close()
    monkeypatch.setenv("PODIUM_DB", str(tmp_path / "env.db"))
    open_store().close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["env.db", "named.db"]
    monkeypatch.delenv("PODIUM_DB")
    with pytest.raises(StoreError) as info:
        open_store()
    assert info.value.message.startswith(f"the home folder {tmp_path / 'gone'} does not exist")
    assert info.value.fix == (
        "set HOME to an existing folder, or give the database's path: --db FILE or PODIUM_DB=FILE"
    )
    assert not (tmp_path / "gone").exists()


# --- derived tables never cost events -----------------------------------------------------------


def test_an_event_appended_during_a_failing_derived_transaction_is_kept() -> None:
    # An in-memory SQLite store lends its one connection to derived tables (the cost ledger): an
    # append from another thread must wait for the plugin's transaction, not join it and be rolled
    # back with it.
    store = SQLiteStore(":memory:")
    store.append(started("r"))
    appended = threading.Event()

    def append() -> None:
        store.append(step("r", 2))
        appended.set()

    with store.derived_tables() as tables:
        tables.execute("CREATE TABLE ledger (run_id TEXT, cost REAL)")
        writer = threading.Thread(target=append)
        with pytest.raises(RuntimeError, match="plugin failed"), tables.transaction():
            tables.execute("INSERT INTO ledger VALUES ('r', 1.5)")
            writer.start()
            # the append cannot finish while the transaction holds the connection; waiting a little
            # gives a wrong implementation the chance to slip it in
            appended.wait(0.3)
            raise RuntimeError("plugin failed")
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert tables.execute("SELECT COUNT(*) FROM ledger").fetchone() == (0,)
    assert [e.seq for e in store.events("r")] == [1, 2]
    store.close()


# --- reading events and the index ---------------------------------------------------------------


def test_a_run_with_no_events_has_last_seq_0_so_its_first_event_is_1(store) -> None:
    assert store.last_seq("nobody") == 0
    store.append(started("r"))
    store.append(step("r", 2))
    assert store.last_seq("r") == 2


def test_events_are_read_a_page_at_a_time_after_a_seq(store) -> None:
    store.append(started("r"))
    for seq in range(2, 8):
        store.append(step("r", seq, f"s{seq}"))
    assert [e.seq for e in store.events("r", limit=1)] == [1]
    assert [e.seq for e in store.events("r", limit=3)] == [1, 2, 3]
    assert [(e.seq, e.step) for e in store.events("r", after=3, limit=2)] == [(4, "s4"), (5, "s5")]
    assert [e.seq for e in store.events("r", after=5, limit=10)] == [6, 7]


def test_every_store_measures_a_run_alike_and_limit_0_lists_every_run(store) -> None:
    events = [
        started("r"),
        step("r", 2, "é"),
        Event("r", 3, EventType.STEP_SUCCEEDED, step="é", data={"output": "ü"}),
    ]
    for e in events:
        store.append(e)
    store.append(started("q", at=T0 + timedelta(seconds=1)))
    # the size a user sees in `podium runs`: the bytes of each event's data and type, and 48 a row
    size = sum(len(e.data_json().encode()) + len(str(e.type)) + 48 for e in events)
    (record,) = [r for r in store.runs() if r.run_id == "r"]
    assert (record.events, record.size_bytes) == (3, size)
    assert [r.run_id for r in store.runs(limit=0)] == ["q", "r"]


def test_a_second_finish_in_a_batch_names_the_refused_run_finished(store) -> None:
    store.append(started("r"))
    store.append(Event("r", 2, EventType.RUN_FINISHED, data={"status": "succeeded"}, at=T0))
    batch = [step("r", 3), Event("r", 4, EventType.RUN_FINISHED, data={"status": "failed"}, at=T0)]
    with pytest.raises(StoreError, match=r"a second RunFinished \(seq 4\) was refused") as info:
        store.append_many([(e, e.data_json()) for e in batch])
    assert info.value.fix == "is another process driving this run? `podium show RUN` says how it ended"
    assert [e.seq for e in store.events("r")] == [1, 2]


def test_an_unreadable_index_line_is_reported_as_damage(tmp_path) -> None:
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)
    store.append(started("r"))
    raw = sqlite3.connect(str(db), isolation_level=None)
    raw.execute("UPDATE runs SET started_at='not a time' WHERE run_id='r'")
    raw.close()
    with pytest.raises(sqlite3.DatabaseError) as info:
        store.runs()
    assert str(info.value) == "database disk image is malformed: a line of the runs index is unreadable"
    err = store_error(info.value, db)
    assert isinstance(err, DatabaseFault) and err.message.startswith(f"the run database {db} is damaged")
    store.close()


# --- derived tables from other threads ----------------------------------------------------------


@pytest.fixture(params=["sqlite-in-memory", "memory"])
def lending_store(request):
    """The stores whose derived tables share one connection between every handle."""
    s = SQLiteStore(":memory:") if request.param == "sqlite-in-memory" else MemoryStore()
    yield s
    s.close()


def test_a_derived_write_from_another_thread_waits_for_an_open_transaction(lending_store) -> None:
    # The cost ledger is written from the engine's thread while `podium cost` may read it from
    # another: a handle's write must not join another handle's transaction and vanish with it.
    with lending_store.derived_tables() as tables:
        tables.execute("CREATE TABLE ledger (run_id TEXT, cost REAL)")
    done = threading.Event()

    def write() -> None:
        with lending_store.derived_tables() as other:
            other.execute("INSERT INTO ledger VALUES ('kept', 2.0)")
        done.set()

    writer = threading.Thread(target=write)
    with lending_store.derived_tables() as tables:
        with pytest.raises(RuntimeError, match="plugin failed"), tables.transaction():
            tables.execute("INSERT INTO ledger VALUES ('dropped', 1.0)")
            writer.start()
            done.wait(0.3)  # a chance for a wrong implementation to slip the write in
            raise RuntimeError("plugin failed")
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert tables.execute("SELECT run_id FROM ledger").fetchall() == [("kept",)]


# --- deleting a run, and plugins' tables, on every backend ----------------------------------------


def test_deleting_a_run_erases_it_everywhere_and_leaves_the_others(store) -> None:
    for run_id in ("gone", "kept"):
        store.append(started(run_id))
        store.append(step(run_id, 2))
        store.post(run_id, "cancel", {"by": "ann"})
    with store.derived_tables() as tables:
        tables.execute("CREATE TABLE ledger (run_id TEXT, cost REAL)")
        tables.executemany("INSERT INTO ledger VALUES (?, ?)", [("gone", 1.0), ("kept", 2.0), ("gone", 3.0)])
    store.delete_run("gone")
    assert store.events("gone") == [] and store.take("gone") == []
    with pytest.raises(RunNotFound):
        store.get_run("gone")
    assert [e.seq for e in store.events("kept")] == [1, 2]
    assert [m.kind for m in store.take("kept")] == ["cancel"]
    with store.derived_tables() as tables:
        assert tables.execute("SELECT run_id, cost FROM ledger").fetchall() == [("kept", 2.0)]
    if hasattr(store, "vacuum"):  # `podium gc` gives the space back; what is left stays
        store.vacuum()
        assert [e.seq for e in store.events("kept")] == [1, 2]


def test_a_plugins_sql_reads_alike_on_every_store_and_a_failed_transaction_writes_nothing(store) -> None:
    with store.derived_tables() as tables:
        tables.execute("CREATE TABLE ledger (run_id TEXT, note TEXT)")
        tables.executemany("INSERT INTO ledger VALUES (?, ?)", [("r1", "50% off"), ("r2", "full price")])
        # a literal % in the plugin's SQL is SQL's, not a placeholder
        assert tables.execute("SELECT run_id FROM ledger WHERE note LIKE '%\\%%' ESCAPE '\\'").fetchall() == [
            ("r1",)
        ]
        assert tables.execute("SELECT run_id FROM ledger WHERE note LIKE ?", ("full%",)).fetchall() == [
            ("r2",)
        ]
        with pytest.raises(RuntimeError, match="half way"), tables.transaction():
            tables.execute("INSERT INTO ledger VALUES (?, ?)", ("r3", "lost"))
            raise RuntimeError("half way")
        with tables.transaction():
            tables.execute("INSERT INTO ledger VALUES (?, ?)", ("r4", "kept"))
        assert [r[0] for r in tables.execute("SELECT run_id FROM ledger ORDER BY run_id").fetchall()] == [
            "r1",
            "r2",
            "r4",
        ]


def test_a_fold_reads_every_event_of_a_long_run_page_by_page(store) -> None:
    # what `replay.RunFold` reads (`event_rows`, where a store has it, else `events`): every event,
    # from the first, once, in order, past a page (2,000 rows)
    count = 2100
    batch = [started("long")] + [step("long", seq, f"s{seq}") for seq in range(2, count + 1)]
    store.append_many([(e, e.data_json()) for e in batch])
    if hasattr(store, "event_rows"):
        rows = list(store.event_rows("long"))
        assert [r[0] for r in rows] == list(range(1, count + 1))
        assert rows[-1][3] == f"s{count}" and rows[1][5] == {}
        assert [r[0] for r in store.event_rows("long", after=1999)] == list(range(2000, count + 1))
        assert list(store.event_rows("nobody")) == []
    assert [e.seq for e in store.events("long", after=2050)] == list(range(2051, count + 1))


def test_a_password_is_never_shown_even_when_the_server_repeats_it(postgres_url: str) -> None:
    # the server names the database it cannot find: here the password is also the database's name
    parts = urlsplit(postgres_url)
    netloc = f"{parts.username or 'podium'}:hunter2@{parts.hostname or ''}" + (
        f":{parts.port}" if parts.port else ""
    )
    url = urlunsplit((parts.scheme, netloc, "/hunter2", parts.query, ""))
    with pytest.raises(StoreError, match="cannot connect to the database") as info:
        open_store(url)
    # the URL is shown without its password (its database's name stays), the server's words masked
    assert str(info.value).count("hunter2") == 1 and ":hunter2@" not in str(info.value)
    assert 'database "***" does not exist' in info.value.message


def test_a_server_that_is_not_there_is_named_with_the_drivers_first_line(tmp_path, monkeypatch) -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql://ann@127.0.0.1:9/podium")  # no password: nothing to hide
    message = info.value.message
    assert message.startswith("cannot connect to the database postgresql://ann@127.0.0.1:9/podium: ")
    assert "Connection refused" in message and "\n" not in message
    assert info.value.fix == (
        "check the URL's host, port, user and database, that the server runs, and the"
        " password (put it in PGPASSWORD or ~/.pgpass rather than the URL)"
    )


def test_a_late_run_finished_after_the_run_already_finished_is_refused(store) -> None:
    # a batch written out of order (rare): seq 3 arrives after 4; the run finished at seq 2
    store.append(started("r"))
    store.append(Event("r", 2, EventType.RUN_FINISHED, data={"status": "succeeded"}, at=T0))
    store.append(step("r", 4))
    late = Event("r", 3, EventType.RUN_FINISHED, data={"status": "failed"}, at=T0)
    with pytest.raises(StoreError, match=r"a second RunFinished \(seq 3\) was refused"):
        store.append(late)
    assert [e.seq for e in store.events("r")] == [1, 2, 4]
    store.append(step("r", 3))  # an ordinary late event is kept, in its place
    assert [e.seq for e in store.events("r")] == [1, 2, 3, 4]
    # a late RunFinished of a run that had not finished is kept
    store.append(started("q"))
    store.append(step("q", 3))
    store.append(Event("q", 2, EventType.RUN_FINISHED, data={"status": "succeeded"}, at=T0))
    assert [e.seq for e in store.events("q")] == [1, 2, 3]


def test_a_postgresql_url_without_the_extra_installed_says_which_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `podium[postgres]` were not installed
    with pytest.raises(ExtraMissing) as info:
        open_store("postgresql://ann@127.0.0.1:9/podium")
    assert (info.value.message, info.value.fix) == (
        "a postgresql:// database needs psycopg, which is not installed",
        "pip install 'podium[postgres]'",
    )


def test_a_run_whose_start_names_no_workflow_is_listed_as_a_question_mark(store) -> None:
    # events appended through the API (or by an older podium) may lack it: the run is still listed
    store.append(Event("r-anon", 1, EventType.RUN_STARTED, data={}, at=T0))
    assert (store.get_run("r-anon").workflow, [r.workflow for r in store.runs()]) == ("?", ["?"])
