"""Helpers for the tools-everywhere tests: one tool-using workflow, bound to each cloud and binding kind.

Each binding runs on its cloud's emulator (through the cloud's real SDK) with the same scripted
brain, or on the local provider's mock; `bound_workflow` writes the workflow for one of them.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.spec import Workflow
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.vertex.emulator import VertexEmulator

TOOLS = "podium_weather_tools"  # a module name no other test uses: it is imported from tmp_path

# (provider, binding kind): what the agent is bound to on each
BINDINGS = [
    ("bedrock", "agent"),  # InvokeAgent, returnControl
    ("bedrock", "model"),  # Converse, toolUse / toolResult
    ("vertex", "model"),  # Gemini, functionCall / functionResponse
    ("azure", "agent"),  # a Foundry agent, Responses function_call / function_call_output
    ("azure", "model"),  # a model deployment, the same items, stateless
    ("local", "mock"),  # the local provider's scripted replies
]
MODELS = {
    "bedrock": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "vertex": "gemini-2.5-flash",
    "azure": "gpt-4o",
}
TOOLS_SOURCE = '''
"""Weather tools (each call is appended to calls.jsonl beside this module, to count real runs)."""

import json
from pathlib import Path

LOG = Path(__file__).with_name("calls.jsonl")


def _log(name: str, **arguments: object) -> None:
    with LOG.open("a") as f:
        f.write(json.dumps({"tool": name, **arguments}) + "\\n")


def weather(city: str, days: int = 1) -> dict:
    """The forecast for a city, for a number of days."""
    _log("weather", city=city, days=days)
    return {"city": city, "days": days, "sky": "rain"}


def refund(order: str, amount: float) -> dict:
    """Refund an order."""
    _log("refund", order=order, amount=amount)
    return {"order": order, "refunded": amount}
'''


@dataclass
class Bound:
    """One binding's workflow file, and the emulator it runs on (None: the local provider)."""

    path: Path
    emulator: Any


def write_tools(tmp_path: Path) -> Path:
    """The tools module next to the workflow; returns the log its calls go to."""
    (tmp_path / f"{TOOLS}.py").write_text(TOOLS_SOURCE, encoding="utf-8")
    sys.modules.pop(TOOLS, None)
    return tmp_path / "calls.jsonl"


def tool_runs(log: Path) -> list[dict[str, Any]]:
    """The tool calls that really ran (a replayed call is not here)."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def mock_of(entries: dict[str, Any]) -> dict[str, Any]:
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": entries}).mock


@contextmanager
def emulators(mock: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One running emulator per cloud, each answering from `mock`."""
    parsed = mock_of(mock)
    with ExitStack() as stack:
        yield {
            "bedrock": stack.enter_context(BedrockEmulator.for_mock(parsed)),
            "vertex": stack.enter_context(VertexEmulator.for_mock(parsed)),
            "azure": stack.enter_context(AzureEmulator.for_mock(parsed)),
        }


def bound_workflow(
    tmp_path: Path,
    running: dict[str, Any],
    provider: str,
    kind: str,
    *,
    tools: dict[str, Any],
    mock: dict[str, Any],
    prompt: str = "What is the weather in Oslo for two days?",
    extra_defaults: str = "",
) -> Bound:
    """The tool-using workflow with its agent bound to `provider` as `kind`."""
    emulator = running.get(provider)
    agent: dict[str, Any] = {"instructions": "You answer questions about the weather.", "tools": tools}
    settings: dict[str, Any] = {}
    if provider != "local":
        settings = {**emulator.settings()}
        if provider == "bedrock":
            settings["max_attempts"] = 1
    if kind == "model":
        agent["model"] = MODELS[provider]
    elif provider == "bedrock":
        agent_id, alias_id = emulator.add_agent("helper")
        agent["bedrock"] = {"agent_id": agent_id, "alias_id": alias_id}
    elif provider == "azure":
        emulator.add_agent("helper")
        agent["azure"] = {"agent": "helper"}
    document = {
        "name": "tools-everywhere",
        "defaults": {"provider": provider, "retry": {"attempts": 1, "backoff": 0, "jitter": False}},
        "providers": {provider: settings} if settings else {},
        "agents": {"helper": agent},
        "steps": {"ask": {"agent": "helper", "prompt": prompt}},
        "outputs": {"answer": "{{ steps.ask.output }}"},
        "mock": mock,
    }
    text = json.dumps(document, indent=2)  # JSON is YAML
    if extra_defaults:
        text = text.replace('"defaults": {', '"defaults": {' + extra_defaults + ", ", 1)
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Bound(path, emulator)


def results_sent(emulator: Any, step: str) -> list[list[str]]:
    """The tool results each of the step's model requests carried, as the emulator logged them."""
    out = []
    for served in emulator.requests:
        if served.detail.get("step") != step or served.operation not in (
            "InvokeAgent",
            "Converse",
            "GenerateContent",
            "CreateResponse",
        ):
            continue
        out.append(
            [str(r) for r in served.detail.get("tool_results") or served.detail.get("tool_result") or []]
        )
    return out
