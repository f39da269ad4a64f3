"""Helpers for the Bedrock tests: providers, requests and workflow files pointed at an emulator."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from podium.core.calls import AgentRequest, ProviderEnv
from podium.core.spec import Workflow
from podium.providers._kit.brains import ScriptedBrain
from podium.providers.bedrock.config import BedrockConfig
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.bedrock.provider import BedrockProvider
from podium.testing import agent_request

HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def mock_of(entries: dict[str, Any]) -> dict[str, Any]:
    """Mock entries parsed exactly as a workflow file's `mock:` section is."""
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": entries}).mock


def scripted(emu: BedrockEmulator, mock: dict[str, Any]) -> None:
    emu.brain = ScriptedBrain(mock_of(mock), provider="bedrock")


def provider_for(
    emu: BedrockEmulator, tmp_path: Path, *, mock: dict[str, Any] | None = None, **config: Any
) -> BedrockProvider:
    settings = {**emu.settings(), "max_attempts": 1, **config}
    return BedrockProvider(
        BedrockConfig(**settings),
        ProviderEnv(workflow="w", base_dir=tmp_path, mock=mock_of(mock or {})),
    )


def request(
    prompt: str = "hello", *, model: str | None = HAIKU, session_id: str = "run-1-s", **kw: Any
) -> AgentRequest:
    return agent_request(prompt, provider="bedrock", model=model, session_id=session_id, **kw)


def write_workflow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
