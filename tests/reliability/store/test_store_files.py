"""The database file itself: read-only files and folders, another application's SQLite file, an
earlier podium's database, and the permissions of the files podium makes."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from store_support import finished_run, podium, unprivileged

from podium.core.store import SQLiteStore
from podium.core.store.migrations import APPLICATION_ID, MIGRATIONS


def test_a_read_only_database_file_is_read_and_a_write_says_read_only(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_id = finished_run(tmp_path, db)
    db.chmod(0o444)
    prefix = unprivileged()
    listed = podium(tmp_path, "runs", "--db", str(db), prefix=prefix)
    assert listed.code == 0 and run_id in listed.stdout, listed.out
    ran = podium(tmp_path, "run", "flow.yaml", "--db", str(db), prefix=prefix)
    assert ran.code == 2, ran.out
    assert f"{db} is read-only" in ran.stderr and "busy" not in ran.stderr, ran.stderr
    assert "Traceback" not in ran.out


def test_a_database_in_a_read_only_folder_can_still_be_listed_and_shown(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "runs.db"
    run_id = finished_run(tmp_path, db)
    before = sorted(p.name for p in folder.iterdir())
    db.chmod(0o444)
    folder.chmod(0o555)
    prefix = unprivileged()
    try:
        listed = podium(tmp_path, "runs", "--db", str(db), prefix=prefix)
        shown = podium(tmp_path, "show", run_id, "--json", "--db", str(db), prefix=prefix)
    finally:
        folder.chmod(0o755)
    assert listed.code == 0 and run_id in listed.stdout, listed.out
    assert shown.code == 0 and '"status": "succeeded"' in shown.stdout, shown.out
    assert sorted(p.name for p in folder.iterdir()) == before  # no -wal or -shm made


def test_another_applications_sqlite_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    other = tmp_path / "other-app.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.execute("INSERT INTO notes VALUES ('mine')")
    con.commit()
    con.close()
    before = other.read_bytes()
    done = podium(tmp_path, "runs", "--db", str(other))
    assert done.code == 2, done.out
    assert f"{other} is a SQLite database, but not podium's (tables: notes)" in done.stderr
    assert "Traceback" not in done.out
    assert other.read_bytes() == before  # no tables added, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-app.db"]


def test_an_earlier_podiums_database_is_adopted_and_a_new_one_is_marked(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    con = sqlite3.connect(old)
    for script in MIGRATIONS[:2]:  # as podium made it before application_id
        con.executescript(script)
    con.execute(
        "INSERT INTO runs (run_id, workflow, status, started_at, updated_at)"
        " VALUES ('r-old', 'wf', 'succeeded', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    con.execute("PRAGMA user_version=2")
    con.commit()
    con.close()
    store = SQLiteStore(old)
    assert store.get_run("r-old").status == "succeeded"
    store.close()
    new = tmp_path / "new.db"
    SQLiteStore(new).close()
    for path in (old, new):
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        con.close()


def test_a_new_database_and_its_folder_are_the_users_alone(tmp_path: Path) -> None:
    db = tmp_path / "made" / "runs.db"
    store = SQLiteStore(db)
    try:
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        for path in db.parent.iterdir():  # the file, and its -wal and -shm while open
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        store.close()
