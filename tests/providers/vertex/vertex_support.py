"""Helpers for the Vertex tests: the SDKs, providers, requests and workflow files pointed at an emulator."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path
from typing import Any

from podium.core.calls import AgentRequest, ProviderEnv
from podium.core.spec import Workflow
from podium.providers._kit.brains import ScriptedBrain
from podium.providers.vertex.config import VertexConfig
from podium.providers.vertex.emulator import VertexEmulator
from podium.providers.vertex.provider import VertexProvider
from podium.testing import agent_request

FLASH = "gemini-2.5-flash"


def mock_of(entries: dict[str, Any]) -> dict[str, Any]:
    """Mock entries parsed exactly as a workflow file's `mock:` section is."""
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": entries}).mock


def scripted(emu: VertexEmulator, mock: dict[str, Any]) -> None:
    emu.brain = ScriptedBrain(mock_of(mock), provider="vertex")


def genai_client(emu: VertexEmulator) -> Any:
    from google import genai

    return genai.Client(vertexai=True, **emu.client_kwargs())


def vertexai_client(emu: VertexEmulator) -> Any:
    import vertexai

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return vertexai.Client(**emu.client_kwargs())


def provider_for(emu: VertexEmulator, tmp_path: Path, **config: Any) -> VertexProvider:
    return VertexProvider(
        VertexConfig(**{**emu.settings(), **config}), ProviderEnv(workflow="w", base_dir=tmp_path)
    )


def request(
    prompt: str = "hello", *, model: str | None = FLASH, session_id: str = "run-1-s", **kw: Any
) -> AgentRequest:
    return agent_request(prompt, provider="vertex", model=model, session_id=session_id, **kw)


def write_workflow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
