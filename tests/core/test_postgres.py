"""What the PostgreSQL store must hold beyond the shared store suite: many writers, one schema, leases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from podium.core.errors import StoreError
from podium.core.events import Event, EventType
from podium.core.store import open_store
from podium.core.store.postgres import SCHEMA_VERSION, PostgresStore, shown_url

REPO = Path(__file__).resolve().parents[2]

_WRITER = textwrap.dedent(
    """
    import sys
    from podium.core.events import Event, EventType
    from podium.core.store import open_store

    url, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    store = open_store(url)
    store.append(Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": run_id}))
    for seq in range(2, count):
        store.append(Event(run_id, seq, EventType.STEP_STARTED, step=f"s{seq}", data={"n": seq}))
    store.append(Event(run_id, count, EventType.RUN_FINISHED, data={"status": "succeeded"}))
    store.close()
    print("done", flush=True)
    """
)

_LEASER = textwrap.dedent(
    """
    import sys
    from podium.core.store import open_store

    url, run_id, owner = sys.argv[1:4]
    store = open_store(url)
    print("ready", flush=True)
    sys.stdin.readline()
    print(store.acquire_lease(run_id, owner).owner, flush=True)
    store.close()
    """
)


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def _go(children: list[subprocess.Popen[str]]) -> list[str]:
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outs = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            outs.append(out.strip())
        return outs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_processes_writing_a_new_database_at_once_migrate_it_once_and_lose_nothing(postgres_url: str) -> None:
    count = 150
    outs = _go([_child(_WRITER, postgres_url, f"w{i}", str(count)) for i in range(3)])
    assert outs == ["done"] * 3
    store = open_store(postgres_url)
    try:
        for run_id in ("w0", "w1", "w2"):
            assert [e.seq for e in store.events(run_id)] == list(range(1, count + 1))
            record = store.get_run(run_id)
            assert (record.status, record.events) == ("succeeded", count)
    finally:
        store.close()


def test_two_writers_of_the_same_seq_one_fails_and_the_first_event_stays(postgres_url: str) -> None:
    first, second = open_store(postgres_url), open_store(postgres_url)
    try:
        first.append(Event("r", 1, EventType.RUN_STARTED, data={"workflow": "wf"}))
        first.append(Event("r", 2, EventType.STEP_STARTED, step="a", data={"by": "first"}))
        with pytest.raises(StoreError, match="already has an event 2"):
            second.append(Event("r", 2, EventType.STEP_STARTED, step="a", data={"by": "second"}))
        assert [e.data.get("by") for e in second.events("r")] == [None, "first"]
    finally:
        first.close()
        second.close()


def test_processes_racing_for_one_runs_lease_one_wins(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        for n in range(3):
            run_id = f"race{n}"
            store.append(Event(run_id, 1, EventType.RUN_STARTED, data={"workflow": "wf"}))
            winners = set(_go([_child(_LEASER, postgres_url, run_id, f"p{i}") for i in range(3)]))
            assert len(winners) == 1  # every process saw the same owner: the one that won
            assert store.lease(run_id).owner in winners
    finally:
        store.close()


def test_a_database_from_a_newer_podium_is_refused_and_left_unchanged(postgres_url: str) -> None:
    import psycopg

    open_store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE podium_meta SET value=%s WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer podium") as caught:
        PostgresStore(postgres_url)
    assert "nothing was changed" in str(caught.value)
    assert caught.value.fix == "upgrade podium (pip install -U 'podium[postgres]'), or use another --db"
    with psycopg.connect(postgres_url) as db:
        row: Any = db.execute("SELECT value FROM podium_meta WHERE key='schema_version'").fetchone()
    assert row[0] == str(SCHEMA_VERSION + 1)


def test_a_url_is_shown_without_its_password() -> None:
    assert shown_url("postgresql://ann:s3cret@db.internal:5433/podium?sslmode=require") == (
        "postgresql://ann@db.internal:5433/podium?sslmode=require"
    )
    assert shown_url("postgresql:///podium?host=/run/pg") == "postgresql:///podium?host=/run/pg"
    # a password with no user, host or port (a unix socket): only the password goes
    assert shown_url("postgresql://:s3cret@/podium?host=/run/pg") == "postgresql:///podium?host=/run/pg"


def test_durability_matches_sqlites_normal_by_default_and_full_on_request(postgres_url: str) -> None:
    for synchronous, expected in (("NORMAL", "off"), ("FULL", "on")):
        store = PostgresStore(postgres_url, synchronous=synchronous)
        try:
            assert store._db.execute("SHOW synchronous_commit").fetchone() == (expected,)
        finally:
            store.close()
