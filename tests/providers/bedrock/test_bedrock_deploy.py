"""`podium deploy --provider bedrock` against the emulator's control plane (moto), then runs that use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_support import HAIKU, scripted, write_workflow

import podium
from podium.core.calls import ProviderEnv
from podium.core.errors import BadInput
from podium.core.spec import Workflow
from podium.core.store import SQLiteStore
from podium.providers._kit.lock import LOCK_FILE
from podium.providers.bedrock.config import BedrockConfig
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.bedrock.provider import BedrockProvider
from podium.testing import PluginsFixture

MOCK = {
    "science": {"reply": "- tides are regular", "usage": {"input_tokens": 52, "output_tokens": 38}},
    "draft": {"reply": "Tidal power, briefly.", "usage": {"input_tokens": 240, "output_tokens": 180}},
}


def flow(
    settings: dict[str, Any], *, writer_model: str = "smart", writer_instructions: str | None = None
) -> str:
    writer = writer_instructions or "You write clear, plain one-page briefs for {{ inputs.audience }}."
    return f"""
        name: research-and-write
        inputs: {{audience: {{type: string, default: city council members}}}}
        defaults: {{provider: bedrock, retry: {{attempts: 1}}}}
        providers:
          bedrock: {json.dumps({**settings, "max_attempts": 1})}
        agents:
          researcher:
            instructions: You are a careful researcher. Answer in three short bullet points.
            model: fast
          writer:
            instructions: "{writer}"
            model: {writer_model}
          counter:
            function: bedrock_deploy_words:count
        steps:
          science: {{agent: researcher, prompt: The science of tides.}}
          draft: {{agent: writer, needs: [science], prompt: "Brief from {{{{ steps.science.output }}}}"}}
          words: {{agent: counter, needs: [draft], prompt: "{{{{ steps.draft.output }}}}"}}
        outputs: {{brief: "{{{{ steps.draft.output }}}}", words: "{{{{ steps.words.output }}}}"}}
        mock: {json.dumps(MOCK)}
    """


def with_models(text: str) -> str:
    models = {"fast": HAIKU, "smart": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
    return text.replace('"max_attempts": 1}', f'"max_attempts": 1, "models": {json.dumps(models)}}}')


def load(path: Path, plugins: PluginsFixture) -> Workflow:
    (path.parent / "bedrock_deploy_words.py").write_text(
        "def count(prompt):\n    return len(prompt.split())\n"
    )
    return podium.load(path, plugins=plugins.pm)


def deploy(wf: Workflow) -> list[dict[str, Any]]:
    config = BedrockConfig.model_validate(wf.providers["bedrock"])
    provider = BedrockProvider(config, ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock))
    return [deployment.row() for deployment in provider.deploy(wf)]


async def test_deploy_then_runs_invoke_the_deployed_agents(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: Any
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    wf = load(path, podium_plugins)

    rows = deploy(wf)

    assert {r["agent"]: r["action"] for r in rows} == {"researcher": "created", "writer": "created"}
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    [target] = lock["workflows"]["research-and-write"]["bedrock"]
    assert (target["region"], target["endpoint_url"]) == ("us-east-1", emulator.endpoint_url)
    assert target["account_id"] == "123456789012"
    agents = target["agents"]
    assert set(agents) == {"researcher", "writer"}  # the function agent is not deployed
    control = boto3.client("bedrock-agent", **emulator.client_kwargs())
    writer = control.get_agent(agentId=agents["writer"]["agent_id"])["agent"]
    assert writer["agentName"] == "research-and-write-writer" and writer["agentStatus"] == "PREPARED"
    assert writer["instruction"] == "You write clear, plain one-page briefs for city council members."
    assert writer["foundationModel"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert agents["writer"]["agent_version"] == "1"

    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result.error
    assert result.outputs == {"brief": "Tidal power, briefly.", "words": 3}
    assert emulator.count("Converse") == 0
    invoked = {
        e.detail["step"]: e.detail["agent_id"] for e in emulator.exchanges if e.operation == "InvokeAgent"
    }
    assert invoked == {"science": agents["researcher"]["agent_id"], "draft": agents["writer"]["agent_id"]}
    finished = {e.step: e.data for e in podium_events.events if e.type == "CallFinished"}
    assert finished["science"]["native"]["bound_by"] == LOCK_FILE
    # what each step ran on, for people: the deployed agent (found in the lock file), a function
    researcher = agents["researcher"]
    assert result.steps["science"].bound_to == {
        "kind": "agent",
        "id": f"{researcher['agent_id']}/{researcher['alias_id']}",
        "via": LOCK_FILE,
    }
    assert result.steps["words"].bound_to == {
        "kind": "function",
        "id": "bedrock_deploy_words:count",
        "via": "function",
    }
    assert finished["science"]["usage"]["input_tokens"] == 52 and finished["science"]["model"] == HAIKU


def test_a_second_deploy_updates_the_same_agents(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    first = {r["agent"]: r for r in deploy(load(path, podium_plugins))}
    path.write_text(path.read_text().replace("three short bullet points", "five short bullet points"))

    second = {r["agent"]: r for r in deploy(load(path, podium_plugins))}

    # only what changed is touched: the writer's definition is the same, so it keeps its version
    assert {a: r["action"] for a, r in second.items()} == {"researcher": "updated", "writer": "unchanged"}
    for name in ("researcher", "writer"):
        assert second[name]["agent_id"] == first[name]["agent_id"]
        assert second[name]["alias_id"] == first[name]["alias_id"]
    assert second["researcher"]["agent_version"] == "2"  # the alias moved to a new version
    assert second["writer"]["agent_version"] == "1"
    control = boto3.client("bedrock-agent", **emulator.client_kwargs())
    agent = control.get_agent(agentId=second["researcher"]["agent_id"])["agent"]
    assert "five short bullet points" in agent["instruction"]

    third = {r["agent"]: r for r in deploy(load(path, podium_plugins))}
    assert {r["action"] for r in third.values()} == {"unchanged"}
    assert {a: r["agent_version"] for a, r in third.items()} == {"researcher": "2", "writer": "1"}


async def test_agents_deployed_elsewhere_are_not_used(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    deploy(load(path, podium_plugins))
    with BedrockEmulator() as other:  # another endpoint: the lock file's entry is not for it
        scripted(other, MOCK)
        path.write_text(path.read_text().replace(emulator.endpoint_url, other.endpoint_url))
        result = await podium.arun(
            load(path, podium_plugins), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "r.db")
        )
        assert result.status == "succeeded"
        assert (other.count("InvokeAgent"), other.count("Converse")) == (0, 2)


async def test_a_deleted_deployed_agent_says_to_deploy_again(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    wf = load(path, podium_plugins)
    rows = {r["agent"]: r for r in deploy(wf)}
    boto3.client("bedrock-agent", **emulator.client_kwargs()).delete_agent(
        agentId=rows["researcher"]["agent_id"], skipResourceInUseCheck=True
    )
    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))
    error = result.steps["science"].error
    assert result.status == "failed" and error is not None and error.kind == "invalid_request"
    assert "podium deploy" in (error.fix or "")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.pop("agent_role_arn"), "the IAM role"),
        (lambda s: None, "agents.researcher has no model"),
    ],
    ids=["no-role", "no-model"],
)
def test_deploy_refuses_what_bedrock_would_refuse(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture, change: Any, problem: str
) -> None:
    settings = emulator.settings()
    change(settings)
    text = flow(settings) if problem.startswith("agents") else with_models(flow(settings))
    if problem.startswith("agents"):
        text = text.replace("model: fast", "").replace("model: smart", f"model: {HAIKU}")
    path = write_workflow(tmp_path, text)
    with pytest.raises(BadInput, match=problem):
        deploy(load(path, podium_plugins))
    assert emulator.count() == 0
    assert not (tmp_path / LOCK_FILE).exists()


def test_deploy_needs_instructions_bedrock_accepts(
    emulator: BedrockEmulator, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write_workflow(tmp_path, with_models(flow(emulator.settings(), writer_instructions="Be brief.")))
    with pytest.raises(BadInput, match=r"agents\.writer\.instructions has 9 characters"):
        deploy(load(path, podium_plugins))


async def test_a_deploy_is_found_whatever_way_the_endpoint_and_region_are_given(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deployed with the endpoint and region as settings; run with them as AWS_ENDPOINT_URL and
    AWS_REGION (as the AWS CLI v2 reads them): the run finds the same agents in the lock file."""
    scripted(emulator, MOCK)
    deployed_with = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    deploy(load(deployed_with, podium_plugins))
    settings = {k: v for k, v in emulator.settings().items() if k not in ("endpoint_url", "region")}
    deployed_with.write_text(with_models(flow(settings)))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_REGION", emulator.region)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    wf = load(deployed_with, podium_plugins)
    assert "endpoint_url" not in wf.providers["bedrock"] and "region" not in wf.providers["bedrock"]

    result = await podium.arun(wf, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"))

    assert result.status == "succeeded", result.error
    assert emulator.count("Converse") == 0 and emulator.count("InvokeAgent") == 2


async def test_a_lock_file_for_another_region_is_said_not_passed_over(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    deploy(load(path, podium_plugins))
    path.write_text(with_models(flow({**emulator.settings(), "region": "eu-west-1"})))

    with caplog.at_level("WARNING", logger="podium"):
        result = await podium.arun(
            load(path, podium_plugins), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db")
        )

    assert result.status == "succeeded", result.error
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "region us-east-1" in said and "not for region eu-west-1" in said  # the difference, named
    bound = result.steps["science"].bound_to
    assert bound is not None and bound["kind"] == "model" and "another target" in bound["via"]
    assert emulator.count("InvokeAgent") == 0


async def test_a_lock_file_for_another_aws_account_is_said_not_passed_over(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Same region, same endpoint, but the credentials are another account's: the deployed agents are
    not called (they would not be found there), and the warning names both accounts."""
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    deploy(load(path, podium_plugins))
    lock = tmp_path / LOCK_FILE
    data = json.loads(lock.read_text())
    (entry,) = data["workflows"]["research-and-write"]["bedrock"]
    assert entry["account_id"] == "123456789012"  # the emulator's, from the agents' ARNs
    entry["account_id"] = "210987654321"
    lock.write_text(json.dumps(data))

    with caplog.at_level("WARNING", logger="podium"):
        result = await podium.arun(
            load(path, podium_plugins), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db")
        )

    assert result.status == "succeeded", result.error
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "account_id 210987654321, not for" in said and "account_id 123456789012" in said
    bound = result.steps["science"].bound_to
    assert bound is not None and bound["kind"] == "model" and "another target" in bound["via"]
    assert emulator.count("InvokeAgent") == 0 and emulator.count("GetCallerIdentity") == 1

    entry["account_id"] = "123456789012"  # the right account again: the deployed agents serve the run
    lock.write_text(json.dumps(data))
    again = await podium.arun(
        load(path, podium_plugins), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db")
    )
    assert again.status == "succeeded" and emulator.count("InvokeAgent") == 2
    assert again.steps["science"].bound_to["kind"] == "agent"  # type: ignore[index]


async def test_an_agent_missing_from_this_targets_deployment_is_said_not_passed_over(
    emulator: BedrockEmulator,
    tmp_path: Path,
    podium_plugins: PluginsFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An agent added after the deploy runs on its model, with a warning that says to deploy again;
    the deployed ones still run as agents."""
    scripted(emulator, MOCK)
    path = write_workflow(tmp_path, with_models(flow(emulator.settings())))
    deploy(load(path, podium_plugins))
    lock = tmp_path / LOCK_FILE
    data = json.loads(lock.read_text())
    del data["workflows"]["research-and-write"]["bedrock"][0]["agents"]["writer"]
    lock.write_text(json.dumps(data))

    with caplog.at_level("WARNING", logger="podium"):
        result = await podium.arun(
            load(path, podium_plugins), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db")
        )

    assert result.status == "succeeded", result.error
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "not 'writer' (added since?)" in said and "podium deploy FILE --provider bedrock" in said
    assert (result.steps["science"].bound_to or {})["kind"] == "agent"
    assert result.steps["draft"].bound_to == {
        "kind": "model",
        "id": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "via": "model; not in the lock file's deployment",
    }
    assert (emulator.count("InvokeAgent"), emulator.count("Converse")) == (1, 1)


def _shipped_workflows(tmp_path: Path) -> list[Path]:
    from podium.authoring.scaffold import STARTERS, starter

    paths = sorted((Path(__file__).parents[3] / "examples").glob("*/*.yaml"))
    for name in STARTERS:
        made = starter(name)
        (tmp_path / name).mkdir()
        for fname, text in made.files.items():
            (tmp_path / name / fname).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name / made.workflow)
    return paths


def test_every_example_and_starter_can_be_deployed_to_bedrock(tmp_path: Path) -> None:
    # `podium deploy brief.yaml --provider bedrock` once refused the README's own example, and each
    # `podium init` starter: "instructions has 15 characters; a Bedrock agent needs 40 to 4000"
    from podium.providers.bedrock.deploy import _plan

    shipped = _shipped_workflows(tmp_path)
    assert len(shipped) >= 7  # four examples, three starters
    for path in shipped:
        plan = _plan(podium.load(path), lambda model: HAIKU)
        assert plan, path
