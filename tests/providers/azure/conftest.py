"""Fixtures: an Azure emulator on 127.0.0.1 and an environment in which nothing reaches real Azure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.providers.azure.emulator import AzureEmulator


@pytest.fixture(autouse=True)
def no_real_azure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reaches Azure: no endpoint, no service principal, no az CLI profile."""
    for name in (
        "AZURE_AI_PROJECT_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME",
        "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "OPENAI_API_KEY", "OPENAI_BASE_URL",
        "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-azure-cli"))


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    """An emulator with an echo brain (a test may set `emulator.brain`)."""
    with AzureEmulator() as running:
        yield running
