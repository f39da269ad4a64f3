"""A cloud added in the tests on podium's provider kit, driven end to end through podium.

If FakeCloud (two small files) runs workflows, retries a throttle, deploys and is emulated through
the registry's commands, a real cloud needs no more than its own wire format on top of the kit.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fakecloud_emulator import FakeCloudEmulator
from fakecloud_provider import FakeCloudConfig, FakeCloudProvider

import podium
from podium.core.calls import AgentRequest, Emulator, Message, ProviderEnv
from podium.core.errors import InvalidRequest
from podium.core.store import MemoryStore
from podium.core.tracecontext import call_key, traceparent
from podium.providers._kit.brains import ScriptedBrain
from podium.providers._kit.lock import LOCK_FILE
from podium.testing import EventRecorder, PluginsFixture

Cli = Callable[..., Result]


def write(tmp_path: Path, settings: dict[str, Any] | None = None, *, mock: str = "", more: str = "") -> Path:
    (tmp_path / "fake_tools.py").write_text("def add(a, b):\n    return {'sum': a + b}\n")
    providers = f"providers: {{fakecloud: {json.dumps(settings)}}}" if settings else ""
    text = f"""
        name: fakeflow
        defaults: {{provider: fakecloud, retry: {{attempts: 3, backoff: 0.01}}}}
        {providers}
        agents:
          writer: {{model: fake-1, instructions: Write one short line.}}
          adder: {{model: fake-1, instructions: Add with the add tool., tools: {{add: fake_tools:add}}}}
        steps:
          draft: {{agent: writer, prompt: hello}}
          {more}
        outputs: {{draft: "{{{{ steps.draft.output }}}}"}}
        {mock}
    """
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_workflow_runs_emulated_and_a_scripted_throttle_is_retried(
    tmp_path: Path, fakecloud: PluginsFixture
) -> None:
    mock = 'mock: {draft: [{error: throttled, retry_after: 0}, {reply: "a line"}]}'
    run = podium.run(write(tmp_path, mock=mock), plugins=fakecloud.pm, store=MemoryStore(), emulate=True)
    assert run.status == "succeeded" and run.outputs == {"draft": "a line"}
    assert run.steps["draft"].attempts == 2


def test_an_injected_throttle_fault_comes_back_with_retry_after_and_is_retried(
    tmp_path: Path, fakecloud: PluginsFixture, podium_events: EventRecorder, emulator: FakeCloudEmulator
) -> None:
    emulator.faults.throttle(retry_after=0.01, operation="Generate")
    run = podium.run(write(tmp_path, emulator.settings()), plugins=fakecloud.pm, store=MemoryStore())
    assert run.status == "succeeded" and run.outputs == {"draft": "hello"}  # the echo brain
    [failed] = [e for e in podium_events.events if e.type == "CallFailed"]
    assert failed.data["kind"] == "throttled" and failed.data["retry_after"] == 0.01
    assert [(e.operation, e.status, e.fault) for e in emulator.requests] == [
        ("Generate", 429, "throttle"),
        ("Generate", 200, None),
    ]


def test_deploy_then_a_run_uses_the_deployed_agent_and_its_tool(
    cli: Cli,
    tmp_path: Path,
    emulator: FakeCloudEmulator,
    fakecloud: PluginsFixture,
    podium_events: EventRecorder,
) -> None:
    mock = 'mock: {adder: [{tool: {name: add, input: {a: 2, b: 3}}}, {reply: "five"}], draft: {reply: "ok"}}'
    path = write(tmp_path, emulator.settings(), mock=mock, more='sum: {agent: adder, prompt: "2 + 3?"}')
    first = cli("deploy", str(path), "--provider", "fakecloud", "--json")
    assert first.exit_code == 0, first.output
    rows = {r["agent"]: r for r in json.loads(first.stdout)["agents"]}
    assert {a: r["action"] for a, r in rows.items()} == {"writer": "created", "adder": "created"}
    lock = json.loads((tmp_path / LOCK_FILE).read_text())["workflows"]["fakeflow"]["fakecloud"]
    assert lock[0]["project"] == "demo" and lock[0]["agents"]["adder"]["id"] == rows["adder"]["id"]

    again = cli("deploy", str(path), "--provider", "fakecloud", "--json")
    assert {r["action"] for r in json.loads(again.stdout)["agents"]} == {"updated"}
    assert emulator.agents[rows["adder"]["id"]]["version"] == 2

    workflow = podium.load(path, plugins=fakecloud.pm)
    emulator.brain = ScriptedBrain(workflow.mock, provider="fakecloud")
    run = podium.run(workflow, plugins=fakecloud.pm, store=MemoryStore())
    assert run.status == "succeeded" and run.steps["sum"].output == "five"
    [call] = [e for e in podium_events.events if e.type == "CallFinished" and e.step == "sum"]
    assert call.data["usage"]["requests"] == 2
    assert untimed(call.data["native"]["tool_calls"]) == [
        {"name": "add", "arguments": {"a": 2, "b": 3}, "result": {"sum": 5}}
    ]
    # draft runs beside sum, so pick sum's own requests out of the log
    asked = [e for e in emulator.requests if e.detail.get("step") == "sum"]
    assert [e.operation for e in asked] == ["Ask", "Ask"]
    # both rounds carry the call's own traceparent, the span of its CallStarted event
    [started] = [e for e in podium_events.events if e.type == "CallStarted" and e.step == "sum"]
    assert {e.traceparent for e in asked} == {traceparent(run.run_id, call_key(started.seq))}
    assert "tool_result" not in asked[0].detail and asked[1].detail["tool_result"] == '{"sum": 5}'


def test_the_cli_runs_it_emulated(cli: Cli, tmp_path: Path) -> None:
    done = cli("run", str(write(tmp_path, mock="mock: {draft: {reply: hi}}")), "--emulate", "--json", "-q")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["outputs"] == {"draft": "hi"}


def test_emulate_lists_it_with_its_own_options(cli: Cli) -> None:
    listing = cli("emulate", "--help")
    assert "fakecloud" in listing.output and "bedrock" in listing.output
    own = cli("emulate", "fakecloud", "--help")
    assert own.exit_code == 0 and "--project" in own.output and "--region" not in own.output


def test_its_emulator_fits_the_protocol_and_takes_its_options(tmp_path: Path) -> None:
    env = ProviderEnv("w", tmp_path)
    options = FakeCloudProvider.emulator_options(project="p9")  # type: ignore[misc]
    with FakeCloudProvider.emulator(env, options=options) as emulator:
        assert isinstance(emulator, Emulator)
        assert emulator.settings()["project"] == "p9" and emulator.endpoint_url.startswith(
            "http://127.0.0.1:"
        )


async def test_a_bad_binding_names_the_agent_once_validated(
    tmp_path: Path, emulator: FakeCloudEmulator
) -> None:
    provider = FakeCloudProvider(FakeCloudConfig(**emulator.settings()), ProviderEnv("w", tmp_path))
    request = AgentRequest(
        run_id="r", step="s", agent="writer", attempt=1, provider="fakecloud", binding={"agent_id": "nope"},
        messages=[Message(role="user", content="x")], idempotency_key="k", session_id="s",
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match=r"agents\.writer\.fakecloud is not a valid Fakecloud binding"):
        await provider.invoke(request)
    good = request.model_copy(update={"binding": {"model": "fake-1"}})
    assert provider.binding(good) is provider.binding(good)  # validated once, then cached
    await provider.aclose()
    assert emulator.count() == 0


def untimed(calls: list[dict]) -> list[dict]:
    """Tool call records without their timing (when it began, how long it took), which varies."""
    assert all("started_at" in c and c["duration_ms"] >= 0 for c in calls)
    return [{k: v for k, v in c.items() if k not in ("started_at", "duration_ms")} for c in calls]
