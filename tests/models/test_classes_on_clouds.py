"""`model: fast` runs anywhere: on each cloud's emulator, through the cloud's own SDK, the call names
that cloud's model for the class; a class a cloud has no model for stops the run before any call."""

from __future__ import annotations

from pathlib import Path

import pytest
from models_support import FAST, SMART, emulator, models_called, triage_flow, write

import podium
from podium.core.errors import WorkflowError
from podium.core.events import EventType
from podium.core.store import SQLiteStore
from podium.testing import EventRecorder, PluginsFixture

CLOUDS = ("bedrock", "vertex", "azure")


async def run_on(
    cloud: str, path: Path, plugins: PluginsFixture, **kw: object
) -> tuple[podium.Run, list[str]]:
    with emulator(cloud) as emu:
        result = await podium.arun(
            path, provider=cloud, plugins=plugins.pm, store=SQLiteStore(path.parent / "runs.db"),
            provider_settings={cloud: emu.settings()}, **kw,
        )  # fmt: skip
        return result, models_called(emu)


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_a_class_becomes_each_clouds_model_and_the_run_is_the_same_everywhere(
    cloud: str, tmp_path: Path, podium_plugins: PluginsFixture, podium_events: EventRecorder
) -> None:
    run, models = await run_on(cloud, triage_flow(tmp_path), podium_plugins)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"kind": "billing", "reply": "Your refund is on its way."}
    assert models == [FAST[cloud], SMART[cloud]]  # what the cloud was asked for, from its request log
    started = [e.data["model"] for e in podium_events.events if e.type == EventType.CALL_STARTED]
    assert started == [FAST[cloud], SMART[cloud]]  # and what the run records (and is priced at)


@pytest.mark.parametrize(
    ("cloud", "model"),
    [
        ("bedrock", "us.amazon.nova-micro-v1:0"),
        ("vertex", "gemini-2.5-flash-lite"),
        ("azure", "gpt-4.1-nano"),
    ],
)
async def test_an_explicit_model_id_is_never_rewritten(
    cloud: str, model: str, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    run, models = await run_on(cloud, triage_flow(tmp_path, triager=model), podium_plugins)
    assert run.status == "succeeded", run.error
    assert models == [model, SMART[cloud]]


async def test_the_workflows_own_models_entry_wins_over_the_table(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = triage_flow(tmp_path, extra="providers: {vertex: {models: {smart: gemini-2.0-flash}}}")
    run, models = await run_on("vertex", path, podium_plugins)
    assert run.status == "succeeded", run.error
    assert models == ["gemini-2.5-flash", "gemini-2.0-flash"]


async def test_a_users_file_changes_what_a_class_means(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    mine = write(tmp_path, "classes: {fast: {models: {azure: gpt-4.1-nano}}}", "mine.yaml")
    run, models = await run_on("azure", triage_flow(tmp_path), podium_plugins, model_classes=[mine])
    assert run.status == "succeeded", run.error
    assert models == ["gpt-4.1-nano", "gpt-4o"]


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_a_class_with_no_model_on_the_cloud_stops_the_run_before_any_call(
    cloud: str, tmp_path: Path, podium_plugins: PluginsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    others = [c for c in ("bedrock", "vertex", "azure", "local") if c != cloud]
    mine = write(tmp_path, f"classes: {{tiny: {{models: {{{others[0]}: some-model}}}}}}", "mine.yaml")
    monkeypatch.setenv("PODIUM_MODEL_CLASSES", str(mine))
    path = triage_flow(tmp_path, triager="tiny")
    with emulator(cloud) as emu:
        with pytest.raises(WorkflowError) as caught:
            await podium.arun(
                path, provider=cloud, plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db"),
                provider_settings={cloud: emu.settings()},
            )  # fmt: skip
        assert emu.requests == []
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 4, "agents.triager.model")
    assert f"model class 'tiny' has no model for {cloud}" in problem.message
    assert f"{mine}:1" in problem.message  # the table to extend
    assert problem.fix and f"providers.{cloud}.models" in problem.fix
    assert SQLiteStore(tmp_path / "runs.db").runs() == []  # no run was started


async def test_a_local_run_on_classes_is_priced_as_the_tables_local_models(
    tmp_path: Path, podium_plugins: PluginsFixture, podium_events: EventRecorder
) -> None:
    run = await podium.arun(
        triage_flow(tmp_path), plugins=podium_plugins.pm, store=SQLiteStore(tmp_path / "runs.db")
    )
    assert run.status == "succeeded", run.error
    started = [e.data["model"] for e in podium_events.events if e.type == EventType.CALL_STARTED]
    assert started == [FAST["local"], SMART["local"]]


def test_a_deploy_creates_each_agent_on_its_class_model(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    done = podium.api.deploy(triage_flow(tmp_path), provider="azure", plugins=podium_plugins.pm, emulate=True)
    assert {d.agent: d.ids["model"] for d in done} == {"triager": FAST["azure"], "helper": SMART["azure"]}
