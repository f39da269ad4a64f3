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


def test_a_run_on_temporal_lands_in_a_shared_postgres_store(
    temporal: Any, postgres_url: str, tmp_path: Path
) -> None:
    """A worker writing to PostgreSQL: `podium show`, `cost` and `trace` from another process read
    the run from there, as they read a local one."""
    import json

    from temporal_support import start_worker

    flow = tmp_path / "pg.yaml"
    flow.write_text(
        "name: pg\ndefaults: {provider: local}\nproviders:\n  local: {models: {m: claude-haiku-4-5}}\n"
        "agents:\n  a: {model: m}\nsteps:\n  one: {agent: a, prompt: p}\n"
        "  two: {agent: a, needs: [one], prompt: q}\nmock: {one: uno, two: dos}\n",
        encoding="utf-8",
    )
    shared = start_worker(temporal.address, postgres_url, tmp_path, task_queue="pg", name="w-pg")
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "podium", "run", str(flow), "--engine", "temporal", "--json",
                "--temporal-address", temporal.address, "--task-queue", "pg", "--db", postgres_url,
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shared.stop()
    assert run.returncode == 0, run.stderr
    ran = json.loads(run.stdout)
    assert ran["status"] == "succeeded" and ran["cost"]["calls"] == 2
    cost = subprocess.run(
        [sys.executable, "-m", "podium", "cost", ran["run_id"], "--format", "json", "--db", postgres_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cost.returncode == 0, cost.stderr
    assert sum(group["calls"] for group in json.loads(cost.stdout)["groups"]) == 2
    spans = tmp_path / "trace.jsonl"
    trace = subprocess.run(
        [sys.executable, "-m", "podium", "trace", ran["run_id"], "-o", str(spans), "--db", postgres_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert trace.returncode == 0, trace.stderr
    names = [json.loads(line)["name"] for line in spans.read_text().splitlines()]
    assert len(names) >= 5  # the run, two steps, two calls
