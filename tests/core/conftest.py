"""Fixtures for the core tests: workflow files written to a temp dir, and the errors they raise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import podium
from podium.core.errors import WorkflowError


@pytest.fixture
def flow_file(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "flow.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_error(flow_file: Callable[..., Path]) -> Callable[..., tuple[WorkflowError, Path]]:
    """Write a workflow file, load it with `podium.load`, and return the WorkflowError raised."""

    def fail(text: str, name: str = "flow.yaml") -> tuple[WorkflowError, Path]:
        path = flow_file(text, name)
        with pytest.raises(WorkflowError) as info:
            podium.load(path)
        return info.value, path

    return fail


@pytest.fixture
def forget_modules() -> Iterator[Callable[[str], None]]:
    """Register top-level module names imported from tmp_path; they leave sys.modules afterwards."""
    names: list[str] = []
    yield names.append
    for top in names:
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]
