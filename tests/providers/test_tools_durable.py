"""Tool calls survive the process: a resumed run replays a finished call instead of running it again,
and a tool marked ``approval: true`` waits, durably, for a person before it runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_support import killed_mid_call, resumed
from tools_support import (
    BINDINGS,
    TOOLS,
    bound_workflow,
    emulators,
    mock_of,
    results_sent,
    tool_runs,
    write_tools,
)

import podium
from podium.core.calls import Usage
from podium.core.events import EventType
from podium.core.spec import MockTool
from podium.core.store import SQLiteStore
from podium.providers._kit.brains import Answer, ScriptedBrain, Turn
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.testing import PluginsFixture

HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture(autouse=True)
def no_real_clouds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_run_killed_after_a_tool_call_finished_resumes_without_running_it_again(tmp_path: Path) -> None:
    log = write_tools(tmp_path)
    entered, release = threading.Event(), threading.Event()
    seen: list[Turn] = []

    def brain(turn: Turn) -> Answer | str:
        seen.append(turn)
        n = len(seen)
        if n in (1, 3):  # the call's first round, and the re-issued call's: the model asks for the tool
            tool = MockTool(name="weather", input={"city": "Oslo", "days": 2})
            return Answer("", Usage(input_tokens=10, output_tokens=5), tool=tool)
        if n == 2:  # the tool's result is in: hang until the process that sent it is killed
            entered.set()
            release.wait(30)
        return "Rain in Oslo."

    with BedrockEmulator(brain) as emulator:
        bound = bound_workflow(
            tmp_path,
            {"bedrock": emulator},
            "bedrock",
            "model",
            tools={"weather": f"{TOOLS}:weather"},
            mock={},
        )
        killed_mid_call(bound.path, tmp_path, entered, release)
        assert tool_runs(log) == [{"tool": "weather", "city": "Oslo", "days": 2}]
        run_id = seen[0].run_id
        assert run_id

        code, out, err = resumed(run_id, tmp_path)

        assert code == 0, err
        assert json.loads(out)["outputs"] == {"answer": "Rain in Oslo."}
        # the model asked again for the same call; podium sent the recorded result, and the tool did not run
        assert tool_runs(log) == [{"tool": "weather", "city": "Oslo", "days": 2}]
        sent = results_sent(emulator, "ask")
        assert len(sent) == 4 and sent[3] == sent[1]
    events = SQLiteStore(tmp_path / "runs.db").events(run_id)
    called = [e for e in events if e.type is EventType.TOOL_CALLED]
    assert len(called) == 1 and called[0].data["index"] == 0  # recorded once, when it ran
    keys = [e.data["idempotency_key"] for e in events if e.type is EventType.CALL_STARTED]
    assert len(keys) == 2 and keys[0] == keys[1] == called[0].data["idempotency_key"]  # the call re-issued
    [finished] = [e.data for e in events if e.type is EventType.CALL_FINISHED]
    [replayed] = finished["native"]["tool_calls"]
    assert replayed["replayed"] is True and replayed["result"] == {"city": "Oslo", "days": 2, "sky": "rain"}


APPROVAL_MOCK = {
    "ask": [
        {"tool": {"name": "weather", "input": {"city": "Oslo"}}},
        {"tool": {"name": "refund", "input": {"order": "A1", "amount": 20}}},
        {"reply": "Done."},
    ]
}
WEATHER_RAN = {"tool": "weather", "city": "Oslo", "days": 1}
GATED = {"weather": f"{TOOLS}:weather", "refund": {"function": f"{TOOLS}:refund", "approval": True}}


@pytest.fixture
def running() -> Iterator[dict[str, Any]]:
    with emulators(APPROVAL_MOCK) as started:
        yield started


def fresh_brains(running: dict[str, Any]) -> None:
    """The scripted model starts its replies again, as the step's call is made anew on resume (and as
    ``podium resume --emulate`` starts fresh emulators): it asks for the same tools again."""
    for emulator in running.values():
        emulator.brain = ScriptedBrain(mock_of(APPROVAL_MOCK), provider=emulator.provider)


async def run(path: Path, plugins: PluginsFixture) -> podium.Run:
    wf = podium.load(path, plugins=plugins.pm)
    return await podium.arun(wf, plugins=plugins.pm, store=SQLiteStore(path.parent / "runs.db"))


@pytest.mark.parametrize(("provider", "kind"), BINDINGS)
async def test_a_tool_marked_approval_waits_for_a_person_then_runs(
    provider: str, kind: str, running: dict[str, Any], tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    log = write_tools(tmp_path)
    bound = bound_workflow(tmp_path, running, provider, kind, tools=GATED, mock=APPROVAL_MOCK)
    store = tmp_path / "runs.db"

    waiting = await run(bound.path, podium_plugins)

    assert waiting.status == "waiting", waiting
    step = waiting.steps["ask"]
    assert step.status == "waiting"
    assert step.approval is not None
    asked = step.approval["request"]
    assert asked["tool"] == {
        "name": "refund",
        "arguments": {"order": "A1", "amount": 20},
        "item": None,
        "index": 1,
    }
    assert "'refund'" in asked["message"] and "approval" in asked["message"]
    assert tool_runs(log) == [WEATHER_RAN]  # the gated tool has not run
    # the call stopped to wait, not failed; the tokens it used are metered all the same
    assert (step.calls, step.failed_calls) == (1, 0)
    assert step.usage.input_tokens > 0 and step.usage.requests == 2

    assert podium.decide(waiting.run_id, "ask", "approved", by="ops", store=store) == "recorded"
    fresh_brains(running)
    done = await podium.aresume(waiting.run_id, plugins=podium_plugins.pm, store=SQLiteStore(store))

    assert done.status == "succeeded", done
    assert done.outputs == {"answer": "Done."}
    # weather was replayed, not run again; refund ran once, after the approval
    assert tool_runs(log) == [
        WEATHER_RAN,
        {"tool": "refund", "order": "A1", "amount": 20},
    ]
    assert done.steps["ask"].approval["decision"]["decision"] == "approved"
    assert done.steps["ask"].usage.input_tokens > step.usage.input_tokens  # both calls, each counted once
    assert done.steps["ask"].usage.requests == 2 + 3


async def test_a_rejected_tool_call_goes_back_to_the_agent_as_a_tool_error(
    running: dict[str, Any], tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    log = write_tools(tmp_path)
    bound = bound_workflow(tmp_path, running, "bedrock", "model", tools=GATED, mock=APPROVAL_MOCK)
    store = tmp_path / "runs.db"
    waiting = await run(bound.path, podium_plugins)
    assert waiting.status == "waiting"

    podium.decide(waiting.run_id, "ask", "rejected", by="ops", comment="not this order", store=store)
    fresh_brains(running)
    done = await podium.aresume(waiting.run_id, plugins=podium_plugins.pm, store=SQLiteStore(store))

    assert done.status == "succeeded", done
    assert tool_runs(log) == [WEATHER_RAN]  # refund never ran
    refused = [
        e.data for e in podium_events.events if e.type is EventType.TOOL_CALLED and e.data["name"] == "refund"
    ]
    assert len(refused) == 1 and refused[0]["error"] is True
    assert refused[0]["text"] == "error: ops rejected this call: not this order. Do not call it again."
    sent = results_sent(running["bedrock"], "ask")
    assert any("ops rejected this call" in r for r in sent[-1])  # what the model read


async def test_a_gated_tool_outside_a_run_is_refused_not_run(tmp_path: Path) -> None:
    from podium.core.calls import AgentRequest, Message
    from podium.providers._kit.tools import Toolbox

    log = write_tools(tmp_path)
    request = AgentRequest(
        run_id="r", step="s", agent="a", attempt=1, provider="local",
        messages=[Message(role="user", content="hi")], idempotency_key="k", session_id="s",
        tools={"refund": f"{TOOLS}:refund"}, approval_tools=frozenset({"refund"}),
    )  # fmt: skip
    tools = Toolbox(tmp_path, provider="local").loop(request, loop=None, where="a test")

    done = tools.run("refund", {"order": "A1", "amount": 20})

    assert done.error and "approval" in done.text and tool_runs(log) == []


async def test_each_call_of_a_gated_tool_waits_for_its_own_decision(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    mock = {
        "ask": [
            {"tool": {"name": "refund", "input": {"order": "A1", "amount": 20}}},
            {"tool": {"name": "refund", "input": {"order": "B2", "amount": 5}}},
            {"reply": "Done."},
        ]
    }
    log = write_tools(tmp_path)
    bound = bound_workflow(tmp_path, {}, "local", "mock", tools=GATED, mock=mock)
    store = tmp_path / "runs.db"

    first = await run(bound.path, podium_plugins)
    assert first.status == "waiting"
    assert first.steps["ask"].approval["request"]["tool"]["arguments"] == {"order": "A1", "amount": 20}
    podium.decide(first.run_id, "ask", "approved", store=store)
    second = await podium.aresume(first.run_id, plugins=podium_plugins.pm, store=SQLiteStore(store))

    assert second.status == "waiting"  # the first approval does not cover the second call
    assert second.steps["ask"].approval["request"]["tool"]["arguments"] == {"order": "B2", "amount": 5}
    assert tool_runs(log) == [{"tool": "refund", "order": "A1", "amount": 20}]
    # resumed before anyone decides: it still waits, and the agent is not called again meanwhile
    again = await podium.aresume(first.run_id, plugins=podium_plugins.pm, store=SQLiteStore(store))
    assert again.status == "waiting" and again.steps["ask"].calls == second.steps["ask"].calls
    assert tool_runs(log) == [{"tool": "refund", "order": "A1", "amount": 20}]
    podium.decide(first.run_id, "ask", "approved", store=store)
    done = await podium.aresume(first.run_id, plugins=podium_plugins.pm, store=SQLiteStore(store))

    assert done.status == "succeeded", done
    assert tool_runs(log) == [
        {"tool": "refund", "order": "A1", "amount": 20},
        {"tool": "refund", "order": "B2", "amount": 5},
    ]
