"""Each Azure call sends its span's traceparent on every request it makes, through openai to the emulator.

The conversation a Foundry agent's step opens and each Responses round (function tools included)
carry the W3C ``traceparent`` header; a call without one sends none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure_support import MODEL, provider_for, request, scripted, write_workflow

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.core.tracecontext import call_key, traceparent
from podium.providers.azure.emulator import AzureEmulator
from podium.testing import PluginsFixture

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
TOOLS = "podium_azure_traceparent_tools"
TOOL_MOCK = [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}, {"reply": "Rain in Oslo."}]


@pytest.fixture
def tools_module(tmp_path: Path) -> Iterator[dict[str, str]]:
    (tmp_path / f"{TOOLS}.py").write_text(
        "def weather(city: str) -> dict:\n    '''Today's weather in a city.'''\n    return {'sky': 'rain'}\n",
        encoding="utf-8",
    )
    yield {"weather": f"{TOOLS}:weather"}
    sys.modules.pop(TOOLS, None)


def sent(emulator: AzureEmulator) -> list[tuple[str, str | None]]:
    return [(e.operation, e.traceparent) for e in emulator.requests]


async def test_an_agent_and_a_deployment_send_the_traceparent_on_every_request_and_none_without_one(
    emulator: AzureEmulator, tmp_path: Path, tools_module: dict[str, str]
) -> None:
    scripted(emulator, {"s": TOOL_MOCK, "t": TOOL_MOCK, "u": {"reply": "hi"}})
    emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path, conversations_file=str(tmp_path / "conversations.json"))
    try:
        agent = request("Weather?", binding={"agent": "helper"}, tools=tools_module, traceparent=TP)
        await provider.invoke(agent)
        # a step timeout is an option of the same per-call client: both apply
        deployment = request("Weather?", step="t", tools=tools_module, traceparent=OTHER, timeout=30)
        await provider.invoke(deployment)
        await provider.invoke(request("untraced", step="u"))
    finally:
        await provider.aclose()

    assert sent(emulator) == [
        ("CreateConversation", TP),  # the agent's conversation for the step
        ("CreateResponse", TP),  # it asks for the tool
        ("CreateResponse", TP),  # the tool's output
        ("CreateResponse", OTHER),  # the deployment, stateless
        ("CreateResponse", OTHER),
        ("CreateResponse", None),
    ]


async def test_a_run_sends_each_calls_own_traceparent(
    emulator: AzureEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    tools_module: dict[str, str],
) -> None:
    scripted(emulator, {"ask": TOOL_MOCK, "write": {"reply": "A brief."}})
    emulator.add_agent("helper")
    path = write_workflow(
        tmp_path,
        f"""
        name: traced
        defaults: {{provider: azure, retry: {{attempts: 2, backoff: 0, jitter: false}}}}
        providers:
          azure: {json.dumps(emulator.settings())}
        agents:
          helper: {{azure: {{agent: helper}}, tools: {json.dumps(tools_module)}}}
          writer: {{model: {MODEL}}}
        steps:
          ask: {{agent: helper, prompt: "Weather in Oslo?"}}
          write: {{agent: writer, needs: [ask], prompt: "Write from {{{{ steps.ask.output }}}}"}}
        """,
    )
    wf = podium.load(path, plugins=podium_plugins.pm)
    emulator.faults.throttle(operation="CreateResponse", times=1)
    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result
    started = [e for e in podium_events.events if e.type is EventType.CALL_STARTED]
    assert [e.step for e in started] == ["ask", "ask", "write"]
    throttled, retried, write = (traceparent(result.run_id, call_key(e.seq)) for e in started)
    assert len({throttled, retried, write}) == 3
    assert [(e.operation, e.status, e.traceparent) for e in emulator.requests] == [
        ("CreateConversation", 200, throttled),
        ("CreateResponse", 429, throttled),
        ("CreateResponse", 200, retried),  # the retry, in the conversation the first attempt made
        ("CreateResponse", 200, retried),  # the tool's output
        ("CreateResponse", 200, write),
    ]
