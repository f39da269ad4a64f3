"""Fixtures: a Bedrock emulator on 127.0.0.1 and an environment in which nothing reaches real AWS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.providers.bedrock.emulator import BedrockEmulator


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reaches AWS: no profile, no keys, no instance metadata, no shared config."""
    for name in (
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
        "AWS_ENDPOINT_URL_BEDROCK_AGENT", "AWS_BEARER_TOKEN_BEDROCK", "AWS_MAX_ATTEMPTS",
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def emulator() -> Iterator[BedrockEmulator]:
    """An emulator with an echo brain (a test may set `emulator.brain`)."""
    with BedrockEmulator() as running:
        yield running
