"""Fixtures: a home of the test's own, so that no ~/.podium/podium.toml of the machine's is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """HOME is an empty folder of the test's; no PODIUM_* variable of the caller's applies."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("PODIUM_") and name not in ("PODIUM_DB", "PODIUM_LOAD_PLUGINS"):
            monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(autouse=True)
def no_real_clouds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reaches AWS, Azure or Google: their SDKs find no credentials, config or metadata."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "GOOGLE_", "GEMINI_", "OPENAI_")) or name in (
            "GCLOUD_PROJECT", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
        ):  # fmt: skip
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-azure-cli"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # a closed port: never the real metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
