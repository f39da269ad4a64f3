"""Managed Bedrock agents that return control: podium runs the agent's declared python tools.

Through boto3 against the emulator: a scripted ``tool:`` reply makes InvokeAgent answer with a
``returnControl`` event; podium calls the tool and sends its result back in the same session.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_support import scripted, write_workflow
from botocore.config import Config
from botocore.exceptions import ClientError

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture

TOOLS = "podium_bedrock_test_tools"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=5, connect_timeout=2)


@pytest.fixture
def tools_module(tmp_path: Path) -> Iterator[Path]:
    """A tools module next to the workflow; each call appends its arguments to calls.jsonl."""
    log = tmp_path / "calls.jsonl"
    (tmp_path / f"{TOOLS}.py").write_text(
        textwrap.dedent(
            f"""
            import json

            def _log(name, **kw):
                with open({str(log)!r}, "a") as f:
                    f.write(json.dumps({{"tool": name, **kw}}) + "\\n")

            def get_weather(city, days=1):
                _log("get_weather", city=city, days=days)
                return {{"city": city, "forecast": "sunny", "days": days}}

            async def get_time(city):
                _log("get_time", city=city)
                return "noon"

            def broken(city):
                raise RuntimeError("weather station offline")
            """
        ),
        encoding="utf-8",
    )
    yield log
    for name in [m for m in sys.modules if m == TOOLS]:
        del sys.modules[name]


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def flow(emu: BedrockEmulator, agent_id: str, alias_id: str, tools: dict[str, str]) -> str:
    providers = json.dumps({**emu.settings(), "max_attempts": 1})
    return f"""
        name: tools-flow
        defaults: {{provider: bedrock, retry: {{attempts: 1, backoff: 0, jitter: false}}}}
        providers:
          bedrock: {providers}
        agents:
          helper:
            bedrock: {json.dumps({"agent_id": agent_id, "alias_id": alias_id})}
            tools: {json.dumps(tools)}
        steps:
          ask: {{agent: helper, prompt: "What is the weather in Paris?"}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
    """


async def run(path: Path, plugins: PluginsFixture) -> podium.Run:
    wf = podium.load(path, plugins=plugins.pm)
    return await podium.arun(wf, plugins=plugins.pm, store=SQLiteStore(path.parent / "runs.db"))


def finished(events: Any) -> list[dict[str, Any]]:
    return [e.data for e in events.events if e.type is EventType.CALL_FINISHED]


async def test_a_returned_control_runs_the_declared_tool_and_the_agent_answers(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    tools_module: Path,
) -> None:
    scripted(
        emulator,
        {
            "ask": [
                {
                    "tool": {"name": "get_weather", "input": {"city": "Paris", "days": 2}},
                    "usage": {"input_tokens": 100, "output_tokens": 20},
                },
                {"reply": "It is sunny in Paris", "usage": {"input_tokens": 150, "output_tokens": 10}},
            ]
        },
    )
    agent_id, alias_id = emulator.add_agent("helper")
    tools = {"get_weather": f"{TOOLS}:get_weather"}
    path = write_workflow(tmp_path, flow(emulator, agent_id, alias_id, tools))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"answer": "It is sunny in Paris"}
    assert logged(tools_module) == [{"tool": "get_weather", "city": "Paris", "days": 2}]  # typed, once
    usage = result.steps["ask"].usage
    assert (usage.input_tokens, usage.output_tokens) == (250, 30)  # both rounds
    invokes = [e for e in emulator.exchanges if e.operation == "InvokeAgent"]
    assert [e.status for e in invokes] == [200, 200]
    assert len({e.detail["session_id"] for e in invokes}) == 1
    assert invokes[0].detail["tool"] == "get_weather"
    sent = json.loads(invokes[1].detail["tool_results"][0])
    assert sent == {"city": "Paris", "forecast": "sunny", "days": 2}
    [call] = finished(podium_events)
    assert untimed(call["native"]["tool_calls"]) == [
        {
            "name": "get_weather",
            "action_group": "tools",
            "arguments": {"city": "Paris", "days": 2},
            "result": {"city": "Paris", "forecast": "sunny", "days": 2},
        }
    ]
    assert len(call["native"]["return_control"]) == 1
    assert len(call["native"]["trace"]) == 5 + 6  # the tool round (no final observation) and the answer


async def test_an_async_tool_named_by_action_group_is_awaited(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
    tools_module: Path,
) -> None:
    scripted(
        emulator,
        {
            "ask": [
                {"tool": {"name": "get_time", "action_group": "clock", "input": {"city": "Paris"}}},
                "It is noon in Paris",
            ]
        },
    )
    agent_id, alias_id = emulator.add_agent("helper")
    tools = {"clock.get_time": f"{TOOLS}:get_time"}
    path = write_workflow(tmp_path, flow(emulator, agent_id, alias_id, tools))

    result = await run(path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"answer": "It is noon in Paris"}
    assert logged(tools_module) == [{"tool": "get_time", "city": "Paris"}]
    [call] = finished(podium_events)
    assert call["native"]["tool_calls"][0]["result"] == "noon"
    assert call["usage"]["requests"] == 2


async def test_an_undeclared_tool_fails_the_step_naming_it(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, tools_module: Path
) -> None:
    scripted(emulator, {"ask": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}, "sunny"]})
    agent_id, alias_id = emulator.add_agent("helper")
    path = write_workflow(tmp_path, flow(emulator, agent_id, alias_id, {}))

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "invalid_request"
    assert "'get_weather'" in error.message and "agents.helper.tools" in error.message
    assert "tools:" in (error.fix or "")
    assert emulator.count("InvokeAgent") == 1 and logged(tools_module) == []


async def test_a_tool_that_raises_is_an_agent_error_naming_the_tool(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, tools_module: Path
) -> None:
    scripted(emulator, {"ask": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}, "sunny"]})
    agent_id, alias_id = emulator.add_agent("helper")
    path = write_workflow(tmp_path, flow(emulator, agent_id, alias_id, {"get_weather": f"{TOOLS}:broken"}))

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "agent_error"
    assert "tool 'get_weather'" in error.message and "weather station offline" in error.message
    assert emulator.count("InvokeAgent") == 1


async def test_an_agent_that_never_stops_asking_fails_after_max_tool_rounds(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, tools_module: Path
) -> None:
    scripted(emulator, {"ask": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}]})
    agent_id, alias_id = emulator.add_agent("helper")
    tools = {"get_weather": f"{TOOLS}:get_weather"}
    text = flow(emulator, agent_id, alias_id, tools).replace("defaults: {", "defaults: {max_tool_rounds: 3, ")
    path = write_workflow(tmp_path, text)

    result = await run(path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and "after 3 rounds" in error.message and "max_tool_rounds" in (error.fix or "")
    # three requests for tools answered; the fourth fails the step
    assert emulator.count("InvokeAgent") == 4 and len(logged(tools_module)) == 3


def test_the_emulator_returns_control_and_checks_the_invocation_id(emulator: BedrockEmulator) -> None:
    scripted(emulator, {"helper": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}, "sunny"]})
    agent_id, alias_id = emulator.add_agent("helper", podium_agent="helper")
    runtime = boto3.client("bedrock-agent-runtime", config=NO_RETRIES, **emulator.client_kwargs())
    ids = {"agentId": agent_id, "agentAliasId": alias_id, "sessionId": "session-1"}

    events = list(runtime.invoke_agent(inputText="weather?", **ids)["completion"])

    [control] = [e["returnControl"] for e in events if "returnControl" in e]
    [invocation] = control["invocationInputs"]
    assert invocation["functionInvocationInput"]["function"] == "get_weather"
    assert invocation["functionInvocationInput"]["parameters"] == [
        {"name": "city", "type": "string", "value": "Paris"}
    ]
    result = {
        "functionResult": {
            "actionGroup": "tools",
            "function": "get_weather",
            "responseBody": {"TEXT": {"body": "sunny"}},
        }
    }
    with pytest.raises(ClientError) as info:
        runtime.invoke_agent(
            sessionState={"invocationId": "wrong", "returnControlInvocationResults": [result]}, **ids
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:  # no invocationId at all
        runtime.invoke_agent(sessionState={"returnControlInvocationResults": [result]}, **ids)
    assert info.value.response["Error"]["Code"] == "ValidationException"

    state = {"invocationId": control["invocationId"], "returnControlInvocationResults": [result]}
    events = list(runtime.invoke_agent(sessionState=state, **ids)["completion"])

    assert [e["chunk"]["bytes"] for e in events if "chunk" in e] == [b"sunny"]
    with pytest.raises(ClientError) as info:  # answered once; no invocation is pending any more
        runtime.invoke_agent(sessionState=state, **ids)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def untimed(calls: list[dict]) -> list[dict]:
    """Tool call records without their timing (when it began, how long it took), which varies."""
    assert all("started_at" in c and c["duration_ms"] >= 0 for c in calls)
    return [{k: v for k, v in c.items() if k not in ("started_at", "duration_ms")} for c in calls]


async def test_deploy_gives_an_agent_with_tools_its_action_groups_and_runs_use_them(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, tools_module: Path
) -> None:
    from podium.core.calls import ProviderEnv
    from podium.providers.bedrock.config import BedrockConfig
    from podium.providers.bedrock.provider import BedrockProvider

    providers = json.dumps({**emulator.settings(), "max_attempts": 1})
    text = f"""
        name: deployed-tools
        defaults: {{provider: bedrock, retry: {{attempts: 1, backoff: 0, jitter: false}}}}
        providers:
          bedrock: {providers}
        agents:
          helper:
            instructions: You answer weather questions with the tools you are given, briefly.
            model: us.anthropic.claude-haiku-4-5-20251001-v1:0
            tools: {{get_weather: "{TOOLS}:get_weather", clock.get_time: "{TOOLS}:get_time"}}
        steps:
          ask: {{agent: helper, prompt: "What is the weather in Paris?"}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
    """
    path = write_workflow(tmp_path, text)
    wf = podium.load(path, plugins=podium_plugins.pm)
    provider = BedrockProvider(
        BedrockConfig.model_validate(wf.providers["bedrock"]),
        ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock),
    )
    [deployed] = provider.deploy(wf)
    control = boto3.client("bedrock-agent", **emulator.client_kwargs())
    where = {"agentId": deployed.ids["agent_id"], "agentVersion": str(deployed.ids["agent_version"])}
    summaries = control.list_agent_action_groups(**where)["actionGroupSummaries"]
    groups = {
        s["actionGroupName"]: control.get_agent_action_group(**where, actionGroupId=s["actionGroupId"])[
            "agentActionGroup"
        ]
        for s in summaries
    }
    assert sorted(groups) == ["clock", "tools"]
    weather = groups["tools"]["functionSchema"]["functions"]
    assert weather[0]["name"] == "get_weather" and weather[0]["parameters"]["city"]["required"] is True
    assert weather[0]["parameters"]["days"]["required"] is False
    assert groups["clock"]["actionGroupExecutor"] == {"customControl": "RETURN_CONTROL"}
    assert [d.action for d in provider.deploy(wf)] == ["unchanged"]

    scripted(
        emulator,
        {"ask": [{"tool": {"name": "get_weather", "input": {"city": "Paris"}}}, "It is sunny in Paris"]},
    )
    result = await run(path, podium_plugins)
    assert result.status == "succeeded", result
    assert result.outputs == {"answer": "It is sunny in Paris"}
    assert logged(tools_module) == [{"tool": "get_weather", "city": "Paris", "days": 1}]
