"""Helpers for the Azure tests: SDK clients, providers, requests and workflow files pointed at an emulator."""

from __future__ import annotations

import ssl
import textwrap
from pathlib import Path
from typing import Any

from podium.core.calls import AgentRequest, ProviderEnv
from podium.core.spec import Workflow
from podium.providers._kit.brains import ScriptedBrain
from podium.providers.azure.config import AzureConfig
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.azure.provider import AzureProvider
from podium.testing import agent_request

MODEL = "gpt-4o"


def mock_of(entries: dict[str, Any]) -> dict[str, Any]:
    """Mock entries parsed exactly as a workflow file's `mock:` section is."""
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": entries}).mock


def scripted(emu: AzureEmulator, mock: dict[str, Any]) -> None:
    emu.brain = ScriptedBrain(mock_of(mock), provider="azure")


def project_client(emu: AzureEmulator) -> Any:
    """The real AIProjectClient, pointed at the emulator and trusting its CA, no SDK retries."""
    from azure.ai.projects import AIProjectClient

    return AIProjectClient(
        emu.project_endpoint, emu.credential(), connection_verify=emu.ca_file, retry_total=0
    )


def openai_client(emu: AzureEmulator) -> Any:
    """The OpenAI client `AIProjectClient.get_openai_client()` makes, trusting the emulator's CA."""
    from openai import DefaultHttpxClient

    verify = ssl.create_default_context(cafile=emu.ca_file)
    return project_client(emu).get_openai_client(http_client=DefaultHttpxClient(verify=verify), max_retries=0)


def provider_for(
    emu: AzureEmulator, tmp_path: Path, *, mock: dict[str, Any] | None = None, **config: Any
) -> AzureProvider:
    return AzureProvider(
        AzureConfig(**{**emu.settings(), **config}),
        ProviderEnv(workflow="w", base_dir=tmp_path, mock=mock_of(mock or {})),
    )


def request(
    prompt: str = "hello", *, model: str | None = MODEL, session_id: str = "run-1-s", **kw: Any
) -> AgentRequest:
    return agent_request(prompt, provider="azure", model=model, session_id=session_id, **kw)


def write_workflow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
