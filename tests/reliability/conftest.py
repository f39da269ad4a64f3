"""Fixtures for the reliability suites: an offline environment, and one emulator per cloud per module.

The helpers (the table of cloud targets, readings of the request logs) are in reliability_support.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_support import CLOUD_ENV, Clouds, offline_environment


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing reaches a real cloud: no profile, no keys, no metadata server (undone after the module)."""
    home = tmp_path_factory.mktemp("offline")
    with pytest.MonkeyPatch.context() as patch:
        for name in CLOUD_ENV:
            patch.delenv(name, raising=False)
        for name, value in offline_environment(home).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def clouds(offline: None) -> Iterator[Clouds]:
    """Each cloud's emulator, started on first use and shared by the module's tests."""
    running = Clouds()
    yield running
    running.stop()
