"""Fixtures for the durable-run tests (the helpers are in helpers.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import AGENTS, CALL_KEYS, FLOW, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with the agents module; every process it started is killed afterwards."""
    (tmp_path / "durable_agents.py").write_text(AGENTS, encoding="utf-8")
    space = Workspace(tmp_path, tmp_path / "runs.db")
    yield space
    for proc in space.procs:
        if proc.poll() is None:
            space.kill(proc)
        else:
            proc.communicate()
    for hold in tmp_path.glob("hold-*"):
        hold.unlink()


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`podium show --json` of an uninterrupted run of FLOW: what every resumed run must equal."""
    tmp = tmp_path_factory.mktemp("clean")
    (tmp / "durable_agents.py").write_text(AGENTS, encoding="utf-8")
    space = Workspace(tmp, tmp / "runs.db")
    space.write(FLOW)
    result, data = space.podium_json("run", "flow.yaml")
    assert result.code == 0, result.out
    assert data["status"] == "succeeded"
    assert space.done() == Counter({key: 1 for key in CALL_KEYS})
    return space.show(data["run_id"])
