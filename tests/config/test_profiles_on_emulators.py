"""One workflow under each profile, through each cloud's real SDK to its emulator: the same step graph
and outputs, each call on the cloud its profile names (the emulators' request logs say so), and a
resumed run keeps the profile it began with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_support import FLOW, HAIKU, SONNET, write

import podium
from podium import api
from podium.core.store import SQLiteStore
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.vertex.emulator import VertexEmulator

Clouds = dict[str, Any]


def inline(value: Any) -> str:
    """A value as TOML (JSON's strings, numbers and booleans are TOML's; tables are written inline)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {inline(v)}" for k, v in value.items() if v is not None) + " }"
    return json.dumps(value)


def profiles(clouds: Clouds) -> str:
    bedrock = {**clouds["bedrock"].settings(), "max_attempts": 1, "models": {"smart": SONNET}}
    azure = {**clouds["azure"].settings(), "models": {"smart": "gpt-4o"}}
    vertex = {**clouds["vertex"].settings(), "models": {"smart": "gemini-2.5-pro"}}
    return f"""
        [profiles.aws]
        provider = "bedrock"
        providers.bedrock = {inline(bedrock)}
        agents.writer.bedrock.model = "{HAIKU}"

        [profiles.azure]
        provider = "azure"
        providers.azure = {inline(azure)}
        agents.writer.azure.model = "gpt-4o-mini"

        [profiles.vertex]
        provider = "vertex"
        providers.vertex = {inline(vertex)}
        agents.writer.vertex.model = "gemini-2.5-flash"

        [profiles.local]
        provider = "local"
        """


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[Clouds]:
    """An emulator of each cloud, each scripted with the workflow's own mock replies."""
    mock = podium.load(write(tmp_path / "probe", "flow.yaml", FLOW)).mock
    with (
        BedrockEmulator.for_mock(mock) as bedrock,
        AzureEmulator.for_mock(mock) as azure,
        VertexEmulator.for_mock(mock) as vertex,
    ):
        yield {"bedrock": bedrock, "azure": azure, "vertex": vertex}


EXPECTED = {  # profile: (provider, the model each step was bound to)
    "aws": ("bedrock", {"research": SONNET, "write": HAIKU}),
    "azure": ("azure", {"research": "gpt-4o", "write": "gpt-4o-mini"}),
    "vertex": ("vertex", {"research": "gemini-2.5-pro", "write": "gemini-2.5-flash"}),
    "local": ("local", {"research": "research", "write": "write"}),  # the mock replies' keys
}


async def test_the_same_workflow_under_each_profile_lands_on_its_own_cloud(
    clouds: Clouds, tmp_path: Path
) -> None:
    flow = write(tmp_path, "flow.yaml", FLOW)
    write(tmp_path, "podium.toml", profiles(clouds))
    store = SQLiteStore(tmp_path / "runs.db")
    outputs = {}
    for profile, (provider, models) in EXPECTED.items():
        before = {name: emu.count() for name, emu in clouds.items()}

        run = await api.arun(flow, profile=profile, store=store)

        assert run.status == "succeeded", (profile, run.error)
        assert list(run.steps) == ["research", "write"]
        assert {sid: s.provider for sid, s in run.steps.items()} == dict.fromkeys(models, provider)
        assert {sid: (s.bound_to or {}).get("id") for sid, s in run.steps.items()} == models
        assert run.steps["write"].usage.output_tokens == 180  # the same scripted brain everywhere
        outputs[profile] = run.outputs
        served = {name: emu.count() - before[name] for name, emu in clouds.items()}
        assert served == {name: (2 if name == provider else 0) for name in clouds}, profile
        started = store.events(run.run_id, limit=1)[0].data
        assert started["settings"] == {"profile": profile, "config": str(tmp_path / "podium.toml")}
    assert all(out == {"memo": "Tidal power, briefly."} for out in outputs.values()), outputs
    text = json.dumps([e.data for r in store.runs() for e in store.events(r.run_id)])
    assert "dummy" not in text.lower() and clouds["bedrock"].settings()["aws_secret_access_key"] not in text


APPROVAL = FLOW.replace(
    "  write: {agent: writer, needs: [research],",
    "  check: {approval: Send it?, needs: [research]}\n  write: {agent: writer, needs: [check],",
)


async def test_a_resumed_run_keeps_its_profile_unless_given_another(clouds: Clouds, tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.yaml", APPROVAL)
    write(tmp_path, "podium.toml", profiles(clouds))
    store = SQLiteStore(tmp_path / "runs.db")
    bedrock = clouds["bedrock"]

    first = await api.arun(flow, profile="aws", store=store)
    assert first.status == "waiting" and bedrock.count("Converse") == 1
    api.decide(first.run_id, "check", "approved", by="ann", store=store)
    done = await api.aresume(first.run_id, store=store)  # no profile given: the run's own
    assert done.status == "succeeded", done.error
    assert done.steps["write"].provider == "bedrock" and bedrock.count("Converse") == 2
    assert (done.steps["write"].bound_to or {}).get("id") == HAIKU

    second = await api.arun(flow, profile="aws", store=store)
    api.decide(second.run_id, "check", "approved", by="ann", store=store)
    moved = await api.aresume(second.run_id, store=store, profile="azure")  # the user names another
    assert moved.status == "succeeded", moved.error
    assert moved.steps["research"].provider == "bedrock" and moved.steps["write"].provider == "azure"
    assert clouds["azure"].count("CreateResponse") == 1
