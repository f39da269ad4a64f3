"""`podium ui` at the command line: each bad input is a clear message and exit 2, and nothing is
created or served."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from podium.core.store import open_store
from podium.testing import run_cli


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    open_store(path).close()
    return path


def ui(*args: str, db: Path) -> tuple[int, str]:
    done = run_cli("ui", *args, db=db, timeout=30, env={"PODIUM_UI_TOKEN": ""})
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def test_a_database_that_does_not_exist_is_named_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "runs.db"
    code, said = ui("--db", str(missing), "--port", "0", db=missing)
    assert code == 2
    assert f"no run database at {missing}" in said and "does not create an empty one" in said
    assert "fix:" in said and "--db" in said
    assert not missing.exists() and not missing.parent.exists()


def test_a_file_that_is_not_a_run_database_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("not sqlite at all " * 100)
    code, said = ui("--db", str(junk), "--port", "0", db=junk)
    assert code == 2 and "cannot use this file as a podium database" in said


def test_a_port_in_use_says_so_and_suggests_another(db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, said = ui("--db", str(db), "--port", str(port), db=db)
    assert code == 2
    assert f"port {port} on 127.0.0.1 is in use" in said and "--port" in said


def test_another_address_than_this_machine_needs_a_token(db: Path) -> None:
    code, said = ui("--db", str(db), "--host", "0.0.0.0", "--port", "0", db=db)
    assert code == 2
    assert "needs a token" in said and "PODIUM_UI_TOKEN" in said and "--host 127.0.0.1" in said


def test_podium_help_lists_ui(db: Path) -> None:
    done = run_cli("--help", db=db)
    assert done.returncode == 0 and "ui " in done.stdout and "Serve a web page" in done.stdout
