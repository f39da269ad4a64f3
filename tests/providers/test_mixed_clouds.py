"""One workflow across three clouds: agents bound to Bedrock, Vertex and Azure run in parallel, each
cloud under its own concurrency limit, and a step whose cloud fails falls back across clouds.

Every call goes through the real SDK to that cloud's emulator; where each call landed is read
from the emulators' own request logs.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import podium
from podium.core.events import EventType
from podium.core.spec import Workflow
from podium.core.store import MemoryStore
from podium.plugins.manager import load_plugins
from podium.providers._kit.brains import ScriptedBrain
from podium.providers.azure.emulator import AzureEmulator
from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.vertex.emulator import VertexEmulator

FAN = ["a", "b", "c", "d"]
MOCK: dict[str, Any] = {
    "on_bedrock": {"reply": "from bedrock", "latency": 0.15},
    "on_vertex": {"reply": "from vertex", "latency": 0.15},
    "on_azure": {"reply": "from azure", "latency": 0.15},
    "fragile": {"reply": "rescued", "usage": {"input_tokens": 10, "output_tokens": 2}},
}


@pytest.fixture(autouse=True)
def no_real_clouds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "GOOGLE_APPLICATION_CREDENTIALS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture
def clouds() -> Iterator[tuple[BedrockEmulator, VertexEmulator, AzureEmulator]]:
    mock = Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": MOCK}).mock
    with BedrockEmulator() as bedrock, VertexEmulator() as vertex, AzureEmulator() as azure:
        for emu, name in ((bedrock, "bedrock"), (vertex, "vertex"), (azure, "azure")):
            emu.brain = ScriptedBrain(mock, provider=name)
        yield bedrock, vertex, azure


def flow(tmp_path: Path, bedrock: BedrockEmulator, vertex: VertexEmulator, azure: AzureEmulator) -> Path:
    providers = {
        "bedrock": {
            **bedrock.settings(),
            "max_attempts": 1,
            "concurrency": 1,
            "models": {"fast": "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
        },
        "vertex": {**vertex.settings(), "concurrency": 2, "models": {"fast": "gemini-2.5-flash"}},
        "azure": {**azure.settings(), "concurrency": 4, "models": {"fast": "gpt-4o-mini"}},
    }
    path = tmp_path / "mixed.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: mixed
            defaults: {{retry: {{attempts: 1}}}}
            providers: {json.dumps(providers)}
            agents:
              b: {{provider: bedrock, model: fast}}
              v: {{provider: vertex, model: fast}}
              z: {{provider: azure, model: fast}}
              first: {{provider: bedrock, model: fast}}   # `fast` is each cloud's own fast model
            steps:
              on_bedrock: {{agent: b, foreach: {FAN}, prompt: "b {{{{ item }}}}"}}
              on_vertex: {{agent: v, foreach: {FAN}, prompt: "v {{{{ item }}}}"}}
              on_azure: {{agent: z, foreach: {FAN}, prompt: "z {{{{ item }}}}"}}
              fragile:
                agent: first
                prompt: "try every cloud"
                fallback: [azure, vertex, local]
            """
        ),
        encoding="utf-8",
    )
    return path


def model_calls(emu: Any) -> list[Any]:
    return [e for e in emu.requests if e.operation in ("Converse", "GenerateContent", "CreateResponse")]


def overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


async def test_three_clouds_run_in_parallel_each_under_its_own_limit_and_a_failure_falls_back_across_them(
    clouds: tuple[BedrockEmulator, VertexEmulator, AzureEmulator], tmp_path: Path
) -> None:
    bedrock, vertex, azure = clouds
    # the fragile step's own cloud refuses it, and so does the first fallback: vertex takes it
    bedrock.faults.server_error(503, times=1, operation="Converse")
    azure.faults.server_error(503, times=1, operation="CreateResponse")
    store = MemoryStore()
    fragile_first = flow(tmp_path, *clouds)
    # the fragile step alone first, so the faults can only be its
    wf = podium.load(fragile_first)
    wf = wf.model_copy(update={"steps": {"fragile": wf.steps["fragile"]}})
    run = await podium.arun(wf, plugins=load_plugins(entry_points_too=False), store=store)
    assert run.status == "succeeded", run.error
    assert run.steps["fragile"].output == "rescued" and run.steps["fragile"].provider == "vertex"
    failed = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FAILED]
    assert [(e.data["provider"], e.data["then"]) for e in failed] == [
        ("bedrock", "fallback:azure"),
        ("azure", "fallback:vertex"),
    ]
    assert [e.status for e in model_calls(bedrock)] == [503]
    assert [e.status for e in model_calls(azure)] == [503]
    assert [e.status for e in model_calls(vertex)] == [200]

    # the fan-outs: each cloud gets exactly its own agent's calls, and never more at once than its limit
    everything = podium.load(fragile_first)
    everything = everything.model_copy(
        update={"steps": {k: v for k, v in everything.steps.items() if k != "fragile"}}
    )
    run = await podium.arun(everything, plugins=load_plugins(entry_points_too=False), store=store)
    assert run.status == "succeeded", run.error
    assert run.steps["on_bedrock"].output == ["from bedrock"] * 4
    assert run.steps["on_vertex"].output == ["from vertex"] * 4
    assert run.steps["on_azure"].output == ["from azure"] * 4
    events = store.events(run.run_id)
    spans: dict[str, list[tuple[float, float]]] = {"bedrock": [], "vertex": [], "azure": []}
    started: dict[tuple[str | None, Any], float] = {}
    for e in events:
        if e.type is EventType.CALL_STARTED:
            started[(e.step, e.data.get("item"))] = e.at.timestamp()
        elif e.type is EventType.CALL_FINISHED:
            spans[e.data["provider"]].append((started[(e.step, e.data.get("item"))], e.at.timestamp()))
    assert {k: len(v) for k, v in spans.items()} == {"bedrock": 4, "vertex": 4, "azure": 4}
    assert overlap(spans["bedrock"]) == 1  # concurrency: 1
    assert overlap(spans["vertex"]) == 2  # concurrency: 2, reached
    assert overlap(spans["azure"]) == 4  # concurrency: 4, reached
    # the clouds ran side by side: some bedrock call overlapped some azure call
    assert overlap(spans["bedrock"] + spans["azure"]) >= 2
    # and each emulator served its own agent's calls: the fragile step's one, then four more
    assert [len(model_calls(emu)) for emu in clouds] == [5, 5, 5]
    assert all(e.status == 200 for emu in clouds for e in model_calls(emu)[1:])
