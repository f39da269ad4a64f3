"""Fixtures: a Vertex emulator on 127.0.0.1 and an environment in which nothing reaches Google Cloud."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.providers.vertex.emulator import VertexEmulator


@pytest.fixture(autouse=True)
def no_real_google(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reaches Google: no key file, no project, no gcloud config, no metadata server."""
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_VERTEX_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY", "GEMINI_API_KEY",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # a closed port: never the real metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture
def emulator() -> Iterator[VertexEmulator]:
    """An emulator with an echo brain (a test may set `emulator.brain`)."""
    with VertexEmulator() as running:
        yield running
