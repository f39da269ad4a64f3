"""Fixtures for the cost tests: the catalog and price files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from podium.cost.catalog import PriceCatalog, load_catalog


@pytest.fixture
def catalog() -> PriceCatalog:
    """genai-prices' snapshot plus podium's overlay (no podium.toml, no user files)."""
    return load_catalog()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write (dedented) text to a file in tmp_path and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write
