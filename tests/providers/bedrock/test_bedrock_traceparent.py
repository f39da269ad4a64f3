"""Each Bedrock call sends its span's traceparent on every request it makes, through boto3 to the emulator.

InvokeAgent (each round of returned control too) and Converse carry the W3C ``traceparent`` header
(AgentCore reads it; classic Bedrock ignores it); a call without one sends none.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bedrock_support import HAIKU, provider_for, request, scripted, write_workflow

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.core.tracecontext import call_key, traceparent
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
TOOLS = "podium_bedrock_traceparent_tools"


@pytest.fixture
def tools_module(tmp_path: Path) -> Iterator[None]:
    (tmp_path / f"{TOOLS}.py").write_text(
        textwrap.dedent(
            """
            def get_weather(city):
                return {"city": city, "forecast": "sunny"}
            """
        ),
        encoding="utf-8",
    )
    yield
    sys.modules.pop(TOOLS, None)


async def test_converse_and_invoke_agent_send_the_requests_traceparent_and_none_without_one(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    agent_id, alias_id = emulator.add_agent("helper")
    provider = provider_for(emulator, tmp_path)
    try:
        await provider.invoke(request("to a model", traceparent=TP))
        await provider.invoke(
            request("to an agent", binding={"agent_id": agent_id, "alias_id": alias_id}, traceparent=OTHER)
        )
        await provider.invoke(request("untraced"))
    finally:
        await provider.aclose()

    assert [(e.operation, e.status, e.traceparent) for e in emulator.exchanges] == [
        ("Converse", 200, TP),
        ("InvokeAgent", 200, OTHER),
        ("Converse", 200, None),
    ]


async def test_a_run_sends_each_calls_own_traceparent_on_every_round_and_retry(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    tools_module: None,
) -> None:
    scripted(
        emulator,
        {
            "ask": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}, {"reply": "Sunny."}],
            "write": {"reply": "A brief."},
        },
    )
    agent_id, alias_id = emulator.add_agent("helper")
    emulator.faults.throttle(operation="Converse")  # the model step's first attempt; its retry is a new call
    providers = json.dumps({**emulator.settings(), "max_attempts": 1})
    path = write_workflow(
        tmp_path,
        f"""
        name: traced
        defaults: {{provider: bedrock, retry: {{attempts: 2, backoff: 0, jitter: false}}}}
        providers:
          bedrock: {providers}
        agents:
          helper:
            bedrock: {json.dumps({"agent_id": agent_id, "alias_id": alias_id})}
            tools: {{get_weather: "{TOOLS}:get_weather"}}
          writer: {{model: {HAIKU}}}
        steps:
          ask: {{agent: helper, prompt: "Weather in Paris?"}}
          write: {{agent: writer, needs: [ask], prompt: "Write from {{{{ steps.ask.output }}}}"}}
        """,
    )

    wf = podium.load(path, plugins=podium_plugins.pm)
    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result
    started = [e for e in podium_events.events if e.type is EventType.CALL_STARTED]
    assert [e.step for e in started] == ["ask", "write", "write"]
    ask, throttled, retried = (traceparent(result.run_id, call_key(e.seq)) for e in started)
    assert len({ask, throttled, retried}) == 3
    assert [(e.operation, e.status, e.traceparent) for e in emulator.exchanges] == [
        ("InvokeAgent", 200, ask),  # the agent returns control
        ("InvokeAgent", 200, ask),  # the tool's result: the same call, the same span
        ("Converse", 429, throttled),
        ("Converse", 200, retried),
    ]
