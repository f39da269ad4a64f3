"""What a SQLite failure is called, and what the user is told to do, for each way it fails.

The errors are SQLite's own where a test can make them happen (a read-only open, a held write lock,
a file that is not a database, a damaged one, a folder that is not there); a full disk and the
other wordings different SQLite builds use are given as SQLite words them. `podium` prints the
message and the fix, and exits 2 for the user's input (a `StoreError`) or 1 for damage or a failed
disk (a `DatabaseFault`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.core.errors import DatabaseFault, StoreError
from podium.core.events import Event, EventType
from podium.core.store import SQLiteStore
from podium.core.store.faults import store_error

ELSEWHERE = "or point --db (or PODIUM_DB) at another database"


def raised(db: Path, sql: str, **connect: object) -> sqlite3.Error:
    """The error SQLite raises running `sql` on the database `db` opened as `connect` says."""
    con = sqlite3.connect(str(db), isolation_level=None, **connect)  # type: ignore[arg-type]
    try:
        with pytest.raises(sqlite3.Error) as info:
            con.execute(sql).fetchall()
        return info.value
    finally:
        con.close()


def a_database(tmp_path: Path) -> Path:
    db = tmp_path / "runs.db"
    SQLiteStore(db).close()
    return db


def told(err: StoreError) -> tuple[type, int, str, str | None]:
    return type(err), err.exit_code, err.message, err.fix


def test_writing_a_database_opened_read_only_says_read_only_and_how_to_fix(tmp_path: Path) -> None:
    db = a_database(tmp_path)
    exc = raised(Path(f"file:{db}?mode=ro"), "CREATE TABLE t (x)", uri=True)
    assert told(store_error(exc, db)) == (
        StoreError,
        2,
        f"{db} is read-only: podium can list and show its runs, but not record new events",
        f"make it and its folder writable (chmod u+w {db} {db.parent}), {ELSEWHERE}",
    )


def test_a_write_lock_held_by_another_process_is_busy_and_try_again(tmp_path: Path) -> None:
    db = a_database(tmp_path)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        exc = raised(db, "BEGIN IMMEDIATE", timeout=0)
    finally:
        holder.close()
    assert told(store_error(exc, db)) == (
        StoreError,
        2,
        f"the run database {db} is busy: another process held its write lock too long ({exc})",
        "try again; if it stays busy, stop the other podium process using it",
    )


def test_a_file_that_is_not_sqlite_is_refused_untouched_and_a_damaged_one_is_a_fault(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    other.write_bytes(b"these are my notes, not a database" * 200)
    exc = raised(other, "PRAGMA user_version")
    assert told(store_error(exc, other)) == (
        StoreError,
        2,
        f"{other}: cannot use this file as a podium database: it is not a SQLite database;"
        " nothing was changed",
        "point --db (or PODIUM_DB) at a podium database, or at a new path",
    )
    # the same complaint about a file that starts as SQLite does: it is a database, damaged
    damaged = tmp_path / "runs.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    exc = raised(damaged, "PRAGMA user_version")
    assert told(store_error(exc, damaged)) == (
        DatabaseFault,
        1,
        f"the run database {damaged} is damaged ({exc})",
        f"restore it from a backup, or recover what is readable with"
        f" `sqlite3 {damaged} .recover | sqlite3 recovered.db`, {ELSEWHERE}",
    )
    # a file gone by the time its error is explained is not said to be damaged either
    gone = tmp_path / "gone.db"
    assert told(store_error(sqlite3.DatabaseError("file is not a database"), gone))[0] is StoreError


def test_a_database_in_a_folder_that_is_not_there_cannot_be_opened(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "runs.db"
    with pytest.raises(sqlite3.OperationalError) as info:
        sqlite3.connect(str(db))
    assert told(store_error(info.value, db)) == (
        StoreError,
        2,
        f"cannot open the run database {db} ({info.value})",
        f"check that its folder exists and is readable and writable, {ELSEWHERE}",
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("attempt to write a read-only database", "read-only"),
        ("database is busy", "busy"),
        ("database disk image is malformed", "damaged"),
        ("database corrupt at page 7", "damaged"),
        ("database or disk is full", "full"),
        ("disk I/O error", "failed"),
    ],
)
def test_each_wording_of_a_failure_gets_its_own_message_and_fix(tmp_path: Path, text: str, kind: str) -> None:
    db = tmp_path / "runs.db"
    err = store_error(sqlite3.OperationalError(text), db)
    expected = {
        "read-only": (
            StoreError,
            f"{db} is read-only: podium can list and show its runs, but not record new events",
            f"make it and its folder writable (chmod u+w {db} {db.parent}), {ELSEWHERE}",
        ),
        "busy": (
            StoreError,
            f"the run database {db} is busy: another process held its write lock too long ({text})",
            "try again; if it stays busy, stop the other podium process using it",
        ),
        "damaged": (
            DatabaseFault,
            f"the run database {db} is damaged ({text})",
            f"restore it from a backup, or recover what is readable with"
            f" `sqlite3 {db} .recover | sqlite3 recovered.db`, {ELSEWHERE}",
        ),
        "full": (
            DatabaseFault,
            f"the disk holding the run database {db} is full ({text})",
            "free some space (`podium gc` removes old runs), then resume the run",
        ),
        "failed": (DatabaseFault, f"the run database {db} failed: {text}", f"check the disk, {ELSEWHERE}"),
    }[kind]
    assert (type(err), err.message, err.fix) == expected


def test_a_folder_or_a_missing_database_read_only_is_refused_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path)
    assert told(info.value) == (
        StoreError,
        2,
        f"{tmp_path} is a folder, not a database file",
        "give --db a file path",
    )
    missing = tmp_path / "none.db"
    with pytest.raises(StoreError) as info:
        SQLiteStore(missing, readonly=True)
    assert told(info.value) == (
        StoreError,
        2,
        f"there is no run database at {missing}",
        "check --db (or PODIUM_DB)",
    )
    assert not missing.exists()


def test_a_new_database_is_user_only_and_one_whose_folder_cannot_be_made_says_so(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    SQLiteStore(db).close()
    assert db.stat().st_mode & 0o777 == 0o600  # run data (prompts, outputs) readable by its user only
    (tmp_path / "afile").write_text("not a folder")
    inside = tmp_path / "afile" / "sub" / "runs.db"
    with pytest.raises(StoreError) as info:
        SQLiteStore(inside)
    assert told(info.value) == (
        StoreError,
        2,
        f"cannot create the run database {inside}: its folder cannot be made"
        f" (Not a directory: {inside.parent})",
        "point --db (or PODIUM_DB) at a writable place, or create the folder and make it writable",
    )


def open_files() -> set[str]:
    """What this process has open (Linux): the paths behind /proc/self/fd."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
    return paths


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_a_damaged_database_is_a_fault_and_is_not_left_open(tmp_path: Path) -> None:
    damaged = tmp_path / "runs.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(DatabaseFault) as info:
        SQLiteStore(damaged)
    # the error (and its traceback, still held here) keeps no connection: a long-lived process that
    # meets a damaged file leaks no handle, and the file can be moved aside and restored at once
    assert str(damaged) not in open_files()
    assert info.value.message.startswith(f"the run database {damaged} is damaged")


def test_a_link_into_a_folder_that_is_not_there_is_refused_with_a_fix(tmp_path: Path) -> None:
    # e.g. ~/.podium/podium.db linked to a drive that is not mounted: SQLite cannot open the file
    db = tmp_path / "runs.db"
    db.symlink_to(tmp_path / "unmounted" / "runs.db")
    with pytest.raises(StoreError) as info:
        SQLiteStore(db)
    assert told(info.value)[1:] == (
        2,
        f"cannot open the run database {db} (unable to open database file)",
        f"check that its folder exists and is readable and writable, {ELSEWHERE}",
    )


def test_an_in_memory_store_makes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore(":memory:")
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_a_store_syncs_at_normal_unless_full_is_asked(tmp_path: Path) -> None:
    # NORMAL in WAL keeps every commit through a killed process; FULL survives power loss too
    for synchronous, level in ((None, 1), ("FULL", 2)):
        store = SQLiteStore(
            tmp_path / f"{synchronous}.db", **({"synchronous": synchronous} if synchronous else {})
        )
        try:
            assert store._db.execute("PRAGMA synchronous").fetchone() == (level,)
        finally:
            store.close()


def test_a_store_opened_read_only_reads_from_any_thread_and_refuses_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in process (tests/reliability/store does it through `podium`, which mutmut's map does not see)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "runs.db"
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    writer = SQLiteStore(db)  # a run still being recorded: its events are in the -wal file
    writer.append(Event("r1", 1, EventType.RUN_STARTED, data={"workflow": "wf"}, at=at))
    store = SQLiteStore(db, readonly=True)
    try:
        writer.append(Event("r1", 2, EventType.STEP_STARTED, step="s", at=at))
        # `podium ui` serves reads from worker threads, and sees the live run's new events
        with ThreadPoolExecutor(1) as pool:
            assert [e.seq for e in pool.submit(store.events, "r1").result()] == [1, 2]
        with pytest.raises(sqlite3.Error) as info:  # told as `podium` tells it (plugins/commands.py)
            store.append(Event("r1", 3, EventType.STEP_STARTED, step="s", at=at))
        assert store_error(info.value, db).message.startswith(f"{db} is read-only")
    finally:
        store.close()
        writer.close()
    assert {p.name for p in tmp_path.iterdir()} <= {"runs.db", "runs.db-wal", "runs.db-shm"}


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("mysql://db.example/runs", "give a SQLite file path (--db runs.db) or a postgresql:// URL"),
        ("sqlite:///var/runs.db", "give the file's path itself: --db /var/runs.db"),
    ],
)
def test_a_database_url_podium_cannot_use_is_refused_not_made_into_folders(
    url: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podium.core.store import open_store

    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as info:
        open_store(url)
    said = f"{url}: podium cannot keep runs in a {url.split('://')[0]}:// database"
    assert told(info.value) == (StoreError, 2, said, fix)
    monkeypatch.setenv("PODIUM_DB", url)  # the same, named by the environment
    with pytest.raises(StoreError) as info:
        open_store()
    assert told(info.value) == (StoreError, 2, said, fix)
    assert list(tmp_path.iterdir()) == []  # once: the folders mysql:/db.example/
