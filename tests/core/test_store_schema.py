"""The run database's file checks and migrations (podium.core.store.migrations), in process: which
SQLite files `--db` may point at, what the refusal says, and how an older schema is brought up to
date, one numbered migration at a time."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from podium.core.errors import StoreError
from podium.core.store import SQLiteStore
from podium.core.store.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate, statements

FIX = "point --db (or PODIUM_DB) at a podium database, or at a new path"


def sqlite_file(path: Path, *sql: str, app: int = 0, version: int = 0) -> Path:
    con = sqlite3.connect(path)
    for script in sql:
        con.executescript(script)
    con.execute(f"PRAGMA application_id={app}")
    con.execute(f"PRAGMA user_version={version}")
    con.commit()
    con.close()
    return path


def old_file(path: Path, version: int) -> Path:
    """A file an earlier podium made (schema `version`), holding one finished run, 'r-old'."""
    sqlite_file(path, *MIGRATIONS[:version], version=version)
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO runs (run_id, workflow, status, started_at, updated_at)"
        " VALUES ('r-old', 'wf', 'succeeded', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    con.commit()
    con.close()
    return path


def pragma(path: Path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        con.close()


def tables(n: int) -> str:
    return "".join(f"CREATE TABLE t{i} (x);" for i in range(1, n + 1))


PODIUM_1 = MIGRATIONS[0]  # the tables of an earlier podium, which set no application_id
NOT_PODIUM_EVENTS = "CREATE TABLE events (run_id, seq); CREATE TABLE runs (run_id);"


@pytest.mark.parametrize(
    ("sql", "app", "version", "whose"),
    [
        pytest.param([tables(1)], 0, 0, "tables: t1", id="another-apps-table"),
        pytest.param([tables(6)], 0, 0, "tables: t1, t2, t3, t4, t5, t6", id="six-tables-all-named"),
        pytest.param([tables(7)], 0, 0, "tables: t1, t2, t3, t4, t5, t6, …", id="seven-tables-cut"),
        pytest.param([], 0, 2, "tables: none", id="no-tables-but-a-version"),
        pytest.param([], 0x1234, 0, "application_id 0x1234", id="another-apps-id"),
        pytest.param([PODIUM_1], 0x1234, 1, "application_id 0x1234", id="podium-tables-another-apps-id"),
        pytest.param([PODIUM_1], 0, 0, "tables: events, runs", id="podium-tables-no-version"),
        pytest.param([NOT_PODIUM_EVENTS], 0, 1, "tables: events, runs", id="events-without-podiums-columns"),
    ],
)
def test_a_sqlite_file_that_is_not_podiums_is_refused_named_and_left_unchanged(
    tmp_path: Path, sql: list[str], app: int, version: int, whose: str
) -> None:
    path = sqlite_file(tmp_path / "other.db", *sql, app=app, version=version)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert (
        info.value.message == f"{path} is a SQLite database, but not podium's ({whose}); nothing was changed"
    )
    assert info.value.fix == FIX
    assert info.value.exit_code == 2
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["other.db"]


@pytest.mark.parametrize("version", [1, 2])
def test_an_earlier_podiums_file_is_adopted_marked_and_migrated(tmp_path: Path, version: int) -> None:
    path = old_file(tmp_path / "old.db", version)
    store = SQLiteStore(path)
    try:
        assert store.get_run("r-old").status == "succeeded"
    finally:
        store.close()
    assert pragma(path, "application_id") == APPLICATION_ID
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_a_new_file_is_marked_as_podiums_and_reopened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    assert pragma(path, "application_id") == APPLICATION_ID
    assert pragma(path, "user_version") == SCHEMA_VERSION
    SQLiteStore(path).close()  # marked: opened again without a question
    assert pragma(path, "application_id") == APPLICATION_ID


def test_a_migration_another_process_ran_meanwhile_is_skipped_and_the_rest_still_run(tmp_path: Path) -> None:
    # this process read version 0, but another one ran migration 1 before this one's transaction
    path = sqlite_file(tmp_path / "p.db", MIGRATIONS[0], version=1)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(con, 0)
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
        assert {"lease_owner", "lease_expires"} <= columns  # migration 2 ran
        triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        assert triggers == ["events_finish_once"]  # migration 3 ran
    finally:
        con.close()


def test_a_migrations_statements_are_split_whole_and_a_last_one_without_its_semicolon_kept() -> None:
    script = """
    CREATE TABLE a (x);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        SELECT 1; SELECT 2;
    END;
    CREATE INDEX a_x ON a (x)
    """
    got = statements(script)
    assert len(got) == 3
    assert got[0] == "CREATE TABLE a (x);"
    assert got[1].startswith("CREATE TRIGGER t") and got[1].endswith("END;")
    assert got[2] == "CREATE INDEX a_x ON a (x)"


def test_a_file_from_a_newer_podium_is_refused_with_the_upgrade_to_make(tmp_path: Path) -> None:
    path = sqlite_file(tmp_path / "new.db", *MIGRATIONS, app=APPLICATION_ID, version=SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert info.value.message == (
        f"{path} was written by a newer podium (schema {SCHEMA_VERSION + 1};"
        f" this podium knows up to {SCHEMA_VERSION}); nothing was changed"
    )
    assert info.value.fix == "upgrade podium (pip install -U podium), or use another --db"


def test_an_earlier_podiums_file_opened_read_only_is_read_if_it_can_be_and_left_unchanged(
    tmp_path: Path,
) -> None:
    # from version 2 (the lease columns) a read needs nothing newer: read as it is, not upgraded
    path = old_file(tmp_path / "v2.db", 2)
    store = SQLiteStore(path, readonly=True)
    try:
        assert store.get_run("r-old").status == "succeeded"
    finally:
        store.close()
    assert pragma(path, "user_version") == 2
    # version 1 must be upgraded first, which a read-only open may not do: say so, and how
    old = sqlite_file(tmp_path / "v1.db", PODIUM_1, version=1)
    before = old.read_bytes()
    with pytest.raises(StoreError) as info:
        SQLiteStore(old, readonly=True)
    assert (info.value.exit_code, info.value.message, info.value.fix) == (
        2,
        f"{old} was made by an older podium and must be upgraded, but it is read-only",
        f"make it and its folder writable (chmod u+w {old} {old.parent}) once",
    )
    assert old.read_bytes() == before


def test_a_new_file_opened_by_many_at_once_is_podiums_for_every_one(tmp_path: Path) -> None:
    # several `podium run`s started together on a fresh ~/.podium/podium.db: each one finds the file
    # mid-creation by another (marked, tables made, versioned), and none may call it a stranger's
    failures: list[BaseException] = []

    def open_it(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            SQLiteStore(path).close()
        except BaseException as exc:  # collected, and shown by the assert
            failures.append(exc)

    for n in range(20):
        start = threading.Barrier(6)
        openers = [threading.Thread(target=open_it, args=(tmp_path / f"{n}.db", start)) for _ in range(6)]
        for t in openers:
            t.start()
        for t in openers:
            t.join()
    assert failures == []
