"""Bedrock Converse with tools: ``toolConfig`` out, ``toolUse`` back, ``toolResult`` out, through boto3.

The emulator speaks Converse's tool blocks as botocore's service model shapes them, and refuses
what the service refuses; podium declares an agent's python tools as ``toolSpec`` entries (the
schema from the signature, the description from the docstring) and answers each ``toolUse``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_support import HAIKU, scripted, write_workflow
from botocore.config import Config

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=5, connect_timeout=2)
WEATHER = {
    "toolSpec": {
        "name": "weather",
        "description": "The forecast for a city.",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
}
TOOLS_MODULE = '''
def weather(city: str, days: int = 1) -> dict:
    """The forecast for a city, for a number of days.

    Not part of the description.
    """
    return {"city": city, "days": days, "sky": "rain"}
'''


def runtime(emu: BedrockEmulator) -> Any:
    return boto3.client("bedrock-runtime", config=NO_RETRIES, **emu.client_kwargs())


def test_the_emulator_asks_for_a_declared_tool_and_reads_its_result(emulator: BedrockEmulator) -> None:
    scripted(
        emulator, {"helper": [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}, "Rain in Oslo."]}
    )
    client = runtime(emulator)
    question = {"role": "user", "content": [{"text": "Weather in Oslo?"}]}
    metadata = {"podium:agent": "helper"}

    first = client.converse(
        modelId=HAIKU, messages=[question], toolConfig={"tools": [WEATHER]}, requestMetadata=metadata
    )

    assert first["stopReason"] == "tool_use"
    [block] = first["output"]["message"]["content"]
    use = block["toolUse"]
    assert use["name"] == "weather" and use["input"] == {"city": "Oslo"}
    assert use["toolUseId"].startswith("tooluse_")
    answer = {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"sky": "rain"}}]}}
    second = client.converse(
        modelId=HAIKU,
        messages=[question, first["output"]["message"], {"role": "user", "content": [answer]}],
        toolConfig={"tools": [WEATHER]},
        requestMetadata=metadata,
    )

    assert second["stopReason"] == "end_turn"
    assert second["output"]["message"]["content"] == [{"text": "Rain in Oslo."}]
    served = [e for e in emulator.requests if e.operation == "Converse"]
    assert served[1].detail["tool_results"] == ['{"sky": "rain"}']
    assert served[1].detail["tool_status"] == ["success"]
    assert served[1].detail["input"] == "Weather in Oslo?"  # the question stays the step's prompt


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"toolConfig": {"tools": [{"toolSpec": {**WEATHER["toolSpec"], "name": "get.weather"}}]}},
            "pattern",
        ),
        ({"messages": "result-without-config"}, "toolConfig field must be defined"),
        (
            {"messages": "result-for-another-id", "toolConfig": {"tools": [WEATHER]}},
            "do not match the toolUse",
        ),
        ({"reply": "undeclared", "toolConfig": {"tools": [WEATHER]}}, "does not declare"),
    ],
)
def test_the_emulator_refuses_what_converse_refuses(
    emulator: BedrockEmulator, kwargs: dict[str, Any], problem: str
) -> None:
    scripted(emulator, {"helper": [{"tool": {"name": "forecast", "input": {}}}]})
    question = {"role": "user", "content": [{"text": "Weather?"}]}
    messages = [question]
    how = kwargs.pop("messages", None)
    kwargs.pop("reply", None)
    if how is not None:
        use = {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {}}}
        answered = "tooluse_1" if how == "result-without-config" else "tooluse_2"
        result = {"toolResult": {"toolUseId": answered, "content": [{"text": "rain"}]}}
        messages = [question, {"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
    client = runtime(emulator)

    with pytest.raises(client.exceptions.ValidationException, match=problem):
        client.converse(
            modelId=HAIKU, messages=messages, requestMetadata={"podium:agent": "helper"}, **kwargs
        )


async def test_a_model_agent_calls_its_python_tool_through_converse(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    (tmp_path / "converse_tools.py").write_text(TOOLS_MODULE, encoding="utf-8")
    scripted(
        emulator,
        {
            "ask": [
                {"tool": {"name": "weather", "input": {"town": "Oslo"}}, "usage": {"input_tokens": 50}},
                {
                    "tool": {"name": "weather", "input": {"city": "Oslo", "days": 2}},
                    "usage": {"input_tokens": 60},
                },
                {"reply": "Rain in Oslo.", "usage": {"input_tokens": 70, "output_tokens": 5}},
            ]
        },
    )
    providers = json.dumps({**emulator.settings(), "max_attempts": 1})
    path = write_workflow(
        tmp_path,
        f"""
        name: converse-tools
        defaults: {{provider: bedrock, retry: {{attempts: 1}}}}
        providers:
          bedrock: {providers}
        agents:
          helper:
            model: {HAIKU}
            tools: {{weather: "converse_tools:weather"}}
        steps:
          ask: {{agent: helper, prompt: "Weather in Oslo?"}}
        """,
    )
    wf = podium.load(path, plugins=podium_plugins.pm)

    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result
    assert result.steps["ask"].output == "Rain in Oslo."
    assert result.steps["ask"].usage.input_tokens == 180  # every round's usage
    served = [e for e in emulator.requests if e.operation == "Converse"]
    assert len(served) == 3
    # the declared tool, as Converse wants it: the schema from the signature, the docstring's first paragraph
    assert served[1].detail["tool_status"] == ["error"]  # 'town' is not a parameter: a tool error
    assert (
        "Additional properties are not allowed ('town' was unexpected)" in served[1].detail["tool_results"][0]
    )
    assert served[2].detail["tool_status"] == ["success"]
    assert json.loads(served[2].detail["tool_results"][0]) == {"city": "Oslo", "days": 2, "sky": "rain"}
    [finished] = [e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED]
    calls = finished["native"]["tool_calls"]
    assert [(c["name"], c["arguments"], c.get("error", False)) for c in calls] == [
        ("weather", {"town": "Oslo"}, True),
        ("weather", {"city": "Oslo", "days": 2}, False),
    ]
    assert all(c["id"].startswith("tooluse_") for c in calls)


def test_podium_declares_the_tool_from_its_signature_and_docstring(tmp_path: Path) -> None:
    from podium.core.calls import AgentRequest, Message
    from podium.providers._kit.tools import Toolbox
    from podium.providers.bedrock.converse import tool_config

    (tmp_path / "converse_tools_decl.py").write_text(TOOLS_MODULE, encoding="utf-8")
    request = AgentRequest(
        run_id="r", step="s", agent="a", attempt=1, provider="bedrock",
        messages=[Message(role="user", content="hi")], idempotency_key="k", session_id="s",
        tools={"weather": "converse_tools_decl:weather"},
    )  # fmt: skip

    config = tool_config(request, Toolbox(tmp_path, provider="bedrock"))

    assert config == {
        "tools": [
            {
                "toolSpec": {
                    "name": "weather",
                    "description": "The forecast for a city, for a number of days.",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                            "required": ["city"],
                            "additionalProperties": False,
                        }
                    },
                }
            }
        ]
    }


def test_a_tool_result_late_in_a_chat_answers_the_newest_question(emulator: BedrockEmulator) -> None:
    # the prompt after a tool's result is the question that asked for the tool, not the chat's first
    use = {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": "rain"}]}}
    chat = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [{"text": "Hello"}]},
        {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]
    reply = runtime(emulator).converse(modelId=HAIKU, messages=chat, toolConfig={"tools": [WEATHER]})
    assert reply["output"]["message"]["content"] == [{"text": "Weather in Oslo?"}]
