"""An agent's python tools on every cloud and binding kind: the same tool calls, the same final output.

One workflow, its agent bound in turn to a managed Bedrock agent (returnControl), a Bedrock model
(Converse toolUse), a Gemini model (functionCall), a Foundry agent and an Azure model deployment
(Responses function_call), and the local provider's mock, each through the cloud's real SDK
against its emulator with the same scripted brain. The agent first calls its tool with arguments
that do not match the tool's signature: that goes back to it as a tool error (the tool does not
run), and it calls again correctly. Every finished tool call is a ToolCalled event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tools_support import BINDINGS, TOOLS, bound_workflow, emulators, results_sent, tool_runs, write_tools

import podium
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.testing import PluginsFixture

MOCK = {
    "ask": [
        {"tool": {"name": "weather", "input": {"city": "Oslo", "days": "two"}}},  # days is an int
        {"tool": {"name": "weather", "input": {"city": "Oslo", "days": 2}}},
        {"reply": "Rain in Oslo for two days."},
    ]
}


@pytest.fixture(autouse=True)
def no_real_clouds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing reaches a real cloud: no credentials or endpoints from the environment."""
    for name in (
        "AZURE_AI_PROJECT_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_API_KEY", "GEMINI_API_KEY",
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_BEARER_TOKEN_BEDROCK",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-azure-cli"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture
def running() -> Iterator[dict[str, Any]]:
    with emulators(MOCK) as started:
        yield started


def ids(binding: tuple[str, str]) -> str:
    return "-".join(binding)


async def run(path: Path, plugins: PluginsFixture) -> podium.Run:
    wf = podium.load(path, plugins=plugins.pm)
    return await podium.arun(wf, plugins=plugins.pm, store=SQLiteStore(path.parent / "runs.db"))


@pytest.mark.parametrize("binding", BINDINGS, ids=ids)
async def test_the_same_tool_calls_and_answer_on_every_cloud_and_binding(
    binding: tuple[str, str],
    running: dict[str, Any],
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    podium_events: Any,
) -> None:
    provider, kind = binding
    log = write_tools(tmp_path)
    bound = bound_workflow(
        tmp_path, running, provider, kind, tools={"weather": f"{TOOLS}:weather"}, mock=MOCK
    )

    result = await run(bound.path, podium_plugins)

    assert result.status == "succeeded", result
    assert result.outputs == {"answer": "Rain in Oslo for two days."}
    # the call with a bad argument never ran the tool; the good one ran once, with typed arguments
    assert tool_runs(log) == [{"tool": "weather", "city": "Oslo", "days": 2}]
    called = [e.data for e in podium_events.events if e.type is EventType.TOOL_CALLED]
    assert [(c["index"], c["name"], c["arguments"], c["error"]) for c in called] == [
        (0, "weather", {"city": "Oslo", "days": "two"}, True),
        (1, "weather", {"city": "Oslo", "days": 2}, False),
    ]
    assert "days: 'two' is not of type 'integer'" in called[0]["text"]
    assert called[1]["result"] == {"city": "Oslo", "days": 2, "sky": "rain"}
    assert result.steps["ask"].tool_calls == 2
    [finished] = [e.data for e in podium_events.events if e.type is EventType.CALL_FINISHED]
    assert finished["usage"]["requests"] == 3  # the agent asked twice, then answered
    if bound.emulator is not None:
        # what reached the cloud: the tool error, then the tool's result, in the agent's own terms
        sent = results_sent(bound.emulator, "ask")
        assert len(sent) == 3
        assert any("is not of type 'integer'" in r for r in sent[1])
        assert any('"sky": "rain"' in r.replace("'", '"') for r in sent[2])
    for other, emulator in running.items():  # and nothing reached another cloud
        if other != provider:
            assert results_sent(emulator, "ask") == []


@pytest.mark.parametrize("binding", BINDINGS, ids=ids)
async def test_an_agent_that_keeps_asking_fails_after_max_tool_rounds_on_every_cloud(
    binding: tuple[str, str],
    tmp_path: Path,
    podium_plugins: PluginsFixture,
) -> None:
    provider, kind = binding
    forever = {"ask": [{"tool": {"name": "weather", "input": {"city": "Oslo"}}}]}
    log = write_tools(tmp_path)
    with emulators(forever) as started:
        bound = bound_workflow(
            tmp_path,
            started,
            provider,
            kind,
            tools={"weather": f"{TOOLS}:weather"},
            mock=forever,
            extra_defaults='"max_tool_rounds": 2',
        )
        result = await run(bound.path, podium_plugins)

    assert result.status == "failed"
    error = result.steps["ask"].error
    assert error is not None and error.kind == "agent_error"
    assert "still asked for tools after 2 rounds" in error.message
    assert "max_tool_rounds" in (error.fix or "")
    assert len(tool_runs(log)) == 2  # two rounds answered; the third request failed the step
