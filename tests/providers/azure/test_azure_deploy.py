"""`podium deploy --provider azure` through azure-ai-projects: versions made only on change, tools, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure_support import write_workflow

import podium
from podium import api
from podium.core.errors import BadInput, InvalidRequest
from podium.providers.azure.deploy import agent_name
from podium.providers.azure.emulator import AzureEmulator
from podium.testing import PluginsFixture

HERE = Path(__file__).resolve().parent


def workflow(emu: AzureEmulator, tmp_path: Path, agents: str) -> Path:
    (tmp_path / "tools_for_tests.py").write_text((HERE / "tools_for_tests.py").read_text())
    return write_workflow(
        tmp_path,
        f"""
        name: deploy-me
        defaults: {{provider: azure}}
        providers: {{azure: {json.dumps({**emu.settings(), "models": {"smart": "gpt-4o"}})}}}
        inputs: {{tone: {{type: string, default: plain}}, who: {{type: string}}}}
        agents:
{agents}
        steps:
          s: {{agent: a, prompt: hi}}
        """,
    )


def test_a_deploy_declares_the_agents_tools_and_renders_its_instructions(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = workflow(
        emulator,
        tmp_path,
        """
          a:
            model: smart
            instructions: "Answer in a {{ inputs.tone }} tone."
            tools: {weather: "tools_for_tests:weather"}
          bound: {model: smart, azure: {agent: already-there}}
          fn: {function: "tools_for_tests:weather"}
""",
    )
    wf = podium.load(path, plugins=podium_plugins.pm)
    [done] = api.deploy(wf, provider="azure", plugins=podium_plugins.pm)

    assert (done.agent, done.action, done.ids["agent_name"]) == ("a", "created", "deploy-me-a")
    version = emulator.state.version("deploy-me-a", None)
    assert version is not None
    assert (
        version.definition["instructions"] == "Answer in a plain tone."
        and version.definition["model"] == "gpt-4o"
    )
    [tool] = version.definition["tools"]
    assert tool["name"] == "weather" and tool["parameters"]["required"] == ["city"]
    assert version.metadata == {"podium_workflow": "deploy-me", "podium_agent": "a"}
    assert emulator.count("CreateAgentVersion") == 1  # the bound agent and the function are not deployed


def test_a_deploy_reports_every_problem_at_once(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = workflow(
        emulator,
        tmp_path,
        """
          a: {instructions: no model here}
          b: {model: smart, instructions: "Use {{ inputs.who }}."}
""",
    )
    wf = podium.load(path, plugins=podium_plugins.pm)
    with pytest.raises(BadInput) as bad:
        api.deploy(wf, provider="azure", plugins=podium_plugins.pm)
    assert "agents.a has no model" in bad.value.message and "agents.b.instructions" in bad.value.message
    assert emulator.count() == 0


def test_a_deploy_the_service_refuses_is_a_podium_error(
    emulator: AzureEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    emulator.deployments = {"gpt-4o-mini"}
    path = workflow(emulator, tmp_path, "          a: {model: smart}\n")
    wf = podium.load(path, plugins=podium_plugins.pm)
    with pytest.raises(InvalidRequest) as refused:
        api.deploy(wf, provider="azure", plugins=podium_plugins.pm)
    assert "DeploymentNotFound" in refused.value.message
    assert not (tmp_path / "podium-lock.json").exists()


@pytest.mark.parametrize(
    ("workflow_name", "agent", "expected"),
    [
        ("research", "writer", "research-writer"),
        ("my_flow!", "a.b", "my-flow-a-b"),
        ("x" * 70, "y", "x" * 63),
    ],
)
def test_agent_names_are_valid_foundry_names(workflow_name: str, agent: str, expected: str) -> None:
    assert agent_name(workflow_name, agent) == expected
