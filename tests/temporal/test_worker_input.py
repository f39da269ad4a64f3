"""`podium worker` refuses bad input before it polls: a store it cannot use (a refused login, no
password shown; a newer schema, both versions named) and a Temporal address that does not answer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporal_support import free_port

from podium.core.store import open_store
from podium.core.store.migrations import SCHEMA_VERSION


def worker(*args: str, address: str | None = None) -> subprocess.CompletedProcess[str]:
    where = address or f"127.0.0.1:{free_port()}"
    return subprocess.run(
        [sys.executable, "-m", "podium", "worker", "--temporal-address", where, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_refused_login_is_named_without_the_password(postgres_url: str) -> None:
    pytest.importorskip("temporalio")
    url = postgres_url.replace("postgresql://", "postgresql://intruder:s3cr3t-pw@", 1)
    done = worker("--db", url)
    assert done.returncode == 2, done.stderr
    assert "s3cr3t-pw" not in done.stderr and "Traceback" not in done.stderr
    assert "cannot connect to the database" in done.stderr


def test_a_store_from_a_newer_podium_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("temporalio")
    db = tmp_path / "runs.db"
    open_store(str(db)).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    done = worker("--db", str(db))
    assert done.returncode == 2, done.stderr
    assert f"schema {SCHEMA_VERSION + 1}" in done.stderr and f"up to {SCHEMA_VERSION}" in done.stderr


def test_a_temporal_table_in_podium_toml_is_read_and_checked(tmp_path: Path, monkeypatch: Any) -> None:
    from podium.core.errors import BadInput
    from podium.temporal.settings import temporal_settings

    (tmp_path / "podium.toml").write_text('[temporal]\naddress = "10.0.0.5:7233"\ntask_queue = "q"\n')
    got = temporal_settings(start=tmp_path, environ={})
    assert (got.address, got.task_queue, got.namespace) == ("10.0.0.5:7233", "q", "default")
    assert temporal_settings(start=tmp_path, environ={"TEMPORAL_ADDRESS": "h:1"}).address == "h:1"
    (tmp_path / "podium.toml").write_text('[temporal]\nadress = "x"\n')
    with pytest.raises(BadInput, match="adress"):
        temporal_settings(start=tmp_path, environ={})
    with pytest.raises(BadInput, match="HOST:PORT"):
        temporal_settings(address="nowhere", start=tmp_path / "none", environ={})
