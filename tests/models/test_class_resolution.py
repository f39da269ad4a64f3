"""`podium.validate`: every agent's model and binding resolves on a provider, or every problem is
named with the workflow's file, line and field, and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from models_support import FAST, SMART, triage_flow, write

import podium
from podium import api
from podium.core.errors import Problem, UnknownProvider, WorkflowError
from podium.testing import PluginsFixture


def rows(path: Path, plugins: PluginsFixture, **kw: object) -> dict[tuple[str, str], tuple[str, str | None]]:
    resolved = api.validate(path, plugins=plugins.pm, **kw)
    return {(r.agent, r.provider): (r.kind, r.id) for r in resolved}


def problems(path: Path, plugins: PluginsFixture, **kw: object) -> dict[str, Problem]:
    with pytest.raises(WorkflowError) as caught:
        api.validate(path, plugins=plugins.pm, **kw)
    return {p.field: p for p in caught.value.problems}


@pytest.mark.parametrize("cloud", ["bedrock", "vertex", "azure"])
def test_validate_for_a_cloud_says_what_each_agent_runs_on(
    cloud: str, tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    found = rows(triage_flow(tmp_path), podium_plugins, provider=cloud)
    assert found == {("triager", cloud): ("model", FAST[cloud]), ("helper", cloud): ("model", SMART[cloud])}


def test_without_a_provider_each_provider_the_steps_use_is_checked(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = triage_flow(tmp_path, extra="defaults: {provider: local, fallback: [vertex]}")
    path.write_text(path.read_text().replace("defaults: {provider: local, retry: {attempts: 1}}\n", ""))
    found = rows(path, podium_plugins)
    assert found == {
        ("triager", "local"): ("mock", "triage"),
        ("triager", "vertex"): ("model", "gemini-2.5-flash"),
        ("helper", "local"): ("mock", "answer"),
        ("helper", "vertex"): ("model", "gemini-2.5-pro"),
    }


def test_a_binding_a_function_and_the_lock_file_are_what_an_agent_runs_on(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = write(
        tmp_path,
        """
        name: bound
        defaults: {provider: bedrock}
        agents:
          pinned: {instructions: x, bedrock: {agent_id: ABCDEFGHIJ, alias_id: KLMNOPQRST}}
          deployed: {instructions: x}
          counter: {function: "os.path:basename"}
        steps:
          a: {agent: pinned, prompt: p}
          b: {agent: deployed, prompt: p}
          c: {agent: counter, prompt: p}
        """,
    )
    with pytest.raises(WorkflowError) as caught:
        api.validate(path, plugins=podium_plugins.pm)
    [problem] = caught.value.problems
    assert problem.field == "agents.deployed" and problem.line == 5
    assert "neither a bedrock binding nor a model" in problem.message
    assert problem.fix and "podium deploy FILE --provider bedrock" in problem.fix
    lock = {
        "agents": {"deployed": {"agent_id": "ZYXWVUTSRQ", "alias_id": "TSTALIASID"}},
        "region": "us-east-1",
    }
    (tmp_path / "podium-lock.json").write_text(
        json.dumps({"version": 1, "workflows": {"bound": {"bedrock": [lock]}}})
    )
    found = rows(path, podium_plugins)
    assert found == {
        ("pinned", "bedrock"): ("agent", "ABCDEFGHIJ"),
        ("deployed", "bedrock"): ("agent", "ZYXWVUTSRQ"),
        ("counter", "local"): ("function", "os.path:basename"),
    }


def test_an_unmapped_class_names_the_class_the_cloud_and_the_table(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    mine = write(
        tmp_path, "classes:\n  tiny:\n    models: {bedrock: us.amazon.nova-micro-v1:0}\n", "mine.yaml"
    )
    path = triage_flow(tmp_path, triager="tiny")
    assert rows(path, podium_plugins, provider="bedrock", model_classes=[mine])[("triager", "bedrock")] == (
        "model", "us.amazon.nova-micro-v1:0",
    )  # fmt: skip
    found = problems(path, podium_plugins, provider="azure", model_classes=[mine])
    problem = found["agents.triager.model"]
    assert problem.line == 4 and problem.column is not None
    assert "model class 'tiny' has no model for azure" in problem.message
    assert f"mapped for bedrock in {mine}:2" in problem.message
    assert problem.fix and "providers.azure.models (tiny: <an azure model id>)" in problem.fix
    assert "classes.tiny.models" in problem.fix and "--model-classes" in problem.fix


def test_a_mistyped_class_is_caught_with_did_you_mean(tmp_path: Path, podium_plugins: PluginsFixture) -> None:
    found = problems(triage_flow(tmp_path, triager="fsat"), podium_plugins, provider="vertex")
    assert "did you mean 'fast'?" in found["agents.triager.model"].message


def test_a_local_step_with_nothing_to_answer_it_is_a_problem(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = triage_flow(tmp_path)
    kept = [line for line in path.read_text().splitlines() if not line.startswith("  answer: {reply:")]
    path.write_text("\n".join(kept) + "\n")
    found = problems(path, podium_plugins)
    assert set(found) == {"steps.answer.agent"}
    assert "no function, no mock reply and no endpoint" in found["steps.answer.agent"].message
    # the same step on a cloud needs a model, which it has
    assert rows(path, podium_plugins, provider="azure")[("helper", "azure")] == ("model", "gpt-4o")


def test_an_unknown_provider_is_bad_input(tmp_path: Path, podium_plugins: PluginsFixture) -> None:
    with pytest.raises(UnknownProvider):
        api.validate(triage_flow(tmp_path), plugins=podium_plugins.pm, provider="nowhere")


def test_laying_the_table_keeps_the_workflow_and_its_own_entries(
    tmp_path: Path, podium_plugins: PluginsFixture
) -> None:
    path = triage_flow(tmp_path, extra="providers: {bedrock: {models: {fast: my-own-profile}}}")
    wf = podium.load(path, plugins=podium_plugins.pm)
    laid = api.with_model_classes(wf, plugins=podium_plugins.pm)
    assert laid.providers["bedrock"]["models"]["fast"] == "my-own-profile"
    assert laid.providers["bedrock"]["models"]["smart"] == SMART["bedrock"]
    assert laid.providers["vertex"]["models"]["fast"] == FAST["vertex"]
    assert laid.file_hash == wf.file_hash and laid.path == wf.path
    assert wf.providers == {"bedrock": {"models": {"fast": "my-own-profile"}}}  # the loaded one is untouched
