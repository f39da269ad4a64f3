"""Fixtures every test folder may use: a real PostgreSQL, started once per session when asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_support import new_database, postgres_server

from podium.core.store import MemoryStore, RunStore, SQLiteStore, open_store


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server on a unix socket, for the whole session (started on first use)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Any) -> str:
    """The URL of a new, empty database on the session's server: `PODIUM_DB=<it>` selects it."""
    return new_database(postgres)


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    """A new store of each backend in turn: what holds for one must hold for all."""
    if request.param == "postgres":
        store = open_store(request.getfixturevalue("postgres_url"))
    else:
        store = SQLiteStore(tmp_path / "p.db") if request.param == "sqlite" else MemoryStore()
    yield store
    store.close()
