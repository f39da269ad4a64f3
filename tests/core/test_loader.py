"""The loader: YAML → Workflow, and every problem reported with file, line, field and fix."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

import podium
from podium.core.calls import Provider
from podium.core.errors import InputError, Problem, WorkflowError
from podium.core.events import EventType
from podium.core.functions import import_function
from podium.core.loader import parse, resolve_inputs
from podium.core.run import Run
from podium.core.spec import MockReply, Workflow
from podium.core.store import MemoryStore
from podium.testing import PluginsFixture, function_provider

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "brief"


def prompts(store: MemoryStore, run: Run, step: str) -> list[str]:
    """The prompts a run's step sent, in the order its calls started."""
    events = store.events(run.run_id)
    return [e.data["prompt"] for e in events if e.type is EventType.CALL_STARTED and e.step == step]


# A minimal valid head: one input, one agent; tests append steps.
HEAD = """\
name: t
inputs:
  topic: string
agents:
  writer: {instructions: You write.}
steps:
"""


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the n-th occurrence of `snippet`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if snippet in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{snippet!r} is not in the text")


def the_problem(err: WorkflowError, field: str) -> Problem:
    matches = [p for p in err.problems if p.field == field]
    assert len(matches) == 1, f"expected one problem at {field!r}, got:\n{err}"
    return matches[0]


def assert_located(
    err: WorkflowError, path: Path | str, field: str, line: int, *, fix: bool = True
) -> Problem:
    """The problem at `field` names the file and the line, and (when `fix`) says what to do."""
    assert err.exit_code == 2
    problem = the_problem(err, field)
    assert problem.file == str(path)
    assert problem.line == line
    text = str(err)
    assert f"{path}:{line}" in text
    assert field in text
    if fix:
        assert problem.fix, f"no fix given for: {problem}"
        assert f"fix: {problem.fix}" in text
    return problem


# --- the example from the brief loads ------------------------------------------------------


@pytest.fixture
def brief(tmp_path: Path, forget_modules: Any) -> Path:
    shutil.copy(EXAMPLE / "brief.yaml", tmp_path / "brief.yaml")
    shutil.copytree(EXAMPLE / "mypkg", tmp_path / "mypkg")
    forget_modules("mypkg")
    return tmp_path / "brief.yaml"


def test_brief_example_loads_with_steps_keyed_by_id(brief: Path) -> None:
    wf = podium.load(brief)
    assert isinstance(wf, Workflow)
    assert wf.name == "brief"
    assert isinstance(wf.steps, dict)
    assert list(wf.steps) == ["facts", "angles", "score", "draft"]
    assert wf.steps["draft"].agent == "writer"
    assert wf.steps["draft"].needs == ["facts", "angles"]
    assert wf.steps["score"].needs == ["facts"]
    assert wf.steps["facts"].needs == []
    assert wf.steps["draft"].when == "{{ inputs.topic != '' }}"
    assert wf.agents["scorer"].function == "mypkg.agents:score"
    assert wf.agents["writer"].provider == "local"
    assert wf.outputs == {"brief": "{{ steps.draft.output }}", "score": "{{ steps.score.output }}"}


def test_brief_example_defaults_inputs_schema_and_mock(brief: Path) -> None:
    wf = podium.load(brief)
    assert wf.defaults.provider == "local"
    assert wf.defaults.retry.attempts == 3
    assert wf.defaults.retry.backoff == 1.0  # not set in the file: the default stays
    assert wf.defaults.timeout == 60.0
    assert not wf.inputs["topic"].required
    assert resolve_inputs(wf, {}) == {"topic": "solid-state batteries"}
    assert wf.output_schema(wf.steps["draft"]) == {"type": "object", "required": ["title", "body"]}
    assert wf.output_schema(wf.steps["facts"]) is None
    assert wf.mock == {
        "facts": "fact 1; fact 2; fact 3",
        "angles": "angle A; angle B",
        "writer": ["not json", '{"title": "T", "body": "B"}'],
    }


def test_brief_example_records_path_and_hash_and_finds_its_package(brief: Path) -> None:
    wf = podium.load(brief)
    assert wf.path == brief.resolve()
    assert wf.base_dir == brief.resolve().parent
    assert wf.file_hash == hashlib.sha256(brief.read_bytes()).hexdigest()
    # the function agent's package was found next to the workflow file, and not imported
    assert "mypkg" not in sys.modules
    score = import_function(wf.agents["scorer"].function or "", wf.base_dir)
    assert Path(inspect.getfile(score)).resolve().is_relative_to(brief.parent.resolve())


def test_mock_replies_are_parsed(flow_file: Any) -> None:
    text = HEAD + (
        "  a: {agent: writer}\n"
        "mock:\n"
        "  a: {reply: {k: 1}, latency: 0.5}\n"
        "  writer: [hi, {error: throttled, retry_after: 2}]\n"
    )
    wf = podium.load(flow_file(text))
    assert wf.mock["a"] == MockReply(reply={"k": 1}, latency=0.5)
    assert wf.mock["writer"] == ["hi", MockReply(error="throttled", retry_after=2.0)]


# --- YAML itself -----------------------------------------------------------------------------


def test_malformed_yaml_reports_the_line(load_error: Any) -> None:
    text = "name: t\nagents: {w: {}}\nsteps:\n  a: {agent: w\n  b: {agent: w}\n"
    err, path = load_error(text)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert problem.file == str(path)
    assert problem.line in (4, 5)  # the unclosed mapping, or where the parser noticed it
    assert "malformed YAML" in problem.message
    assert problem.fix and "YAML" in problem.fix
    assert f"{path}:{problem.line}" in str(err)


def test_bad_indentation_reports_the_line(load_error: Any) -> None:
    text = "name: t\nagents: {w: {}}\nsteps:\n  a:\n    agent: w\n   prompt: hi\n"
    err, path = load_error(text)
    assert err.problems[0].line == 6
    assert err.problems[0].fix
    assert f"{path}:6" in str(err)


def test_tab_indentation_reports_the_line(load_error: Any) -> None:
    err, path = load_error("name: t\nagents: {w: {}}\nsteps:\n\ta: {agent: w}\n")
    assert err.problems[0].line == 4
    assert "malformed YAML" in err.problems[0].message
    assert f"{path}:4" in str(err)


def test_duplicate_key_is_malformed(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer}\n  a: {agent: writer}\n"
    err, _ = load_error(text)
    assert err.problems[0].line == line_of(text, "a: {agent", 2)
    assert "duplicate key" in err.problems[0].message


def test_empty_file(load_error: Any) -> None:
    err, path = load_error("")
    assert [p.message for p in err.problems] == ["the workflow file is empty"]
    assert err.problems[0].file == str(path)
    assert "steps:" in err.problems[0].fix


def test_file_of_comments_only_is_empty(load_error: Any) -> None:
    err, _ = load_error("# nothing yet\n")
    assert "empty" in err.problems[0].message


def test_top_level_list_is_refused(load_error: Any) -> None:
    err, path = load_error("- name: t\n- steps: {}\n")
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert problem.file == str(path)
    assert "mapping" in problem.message and "list" in problem.message
    assert problem.fix, "a top-level list should say what a workflow file looks like"


def test_no_steps(load_error: Any) -> None:
    text = "name: t\nsteps: {}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps", 2)
    assert "no steps" in problem.message


def test_nonexistent_file() -> None:
    missing = Path("/nonexistent/dir/flow.yaml")
    with pytest.raises(WorkflowError) as info:
        podium.load(missing)
    err = info.value
    assert err.exit_code == 2
    assert err.problems[0].file == str(missing)
    assert "no such file" in err.problems[0].message
    assert err.problems[0].fix
    assert str(missing) in str(err)


# --- unknown keys, with did-you-mean -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "snippet", "suggestion", "allowed"),
    [
        (
            HEAD + "  a: {agent: writer}\nstep:\n  b: {agent: writer}\n",
            "step",
            "step:",
            "steps",
            "steps",
        ),
        (
            HEAD + "  a: {agent: writer}\n  b:\n    agent: writer\n    neds: [a]\n",
            "steps.b.neds",
            "neds:",
            "needs",
            "needs",
        ),
        (
            "name: t\nagents:\n  w:\n    instructons: hi\nsteps:\n  a: {agent: w}\n",
            "agents.w.instructons",
            "instructons",
            "instructions",
            "instructions",
        ),
        (
            HEAD + "  a:\n    agent: writer\n    retry: {atempts: 2}\n",
            "steps.a.retry.atempts",
            "atempts",
            "attempts",
            "attempts",
        ),
        (
            "name: t\nagents: {w: {}}\ndefaults:\n  retyr: {}\nsteps:\n  a: {agent: w}\n",
            "defaults.retyr",
            "retyr",
            "retry",
            "retry",
        ),
        (
            "name: t\ninputs:\n  topic: {typ: string}\nagents: {w: {}}\nsteps:\n  a: {agent: w}\n",
            "inputs.topic.typ",
            "typ:",
            "type",
            "type",
        ),
        (
            HEAD + "  a:\n    agent: writer\n    output: {shema: {type: object}}\n",
            "steps.a.output.shema",
            "shema",
            "schema",
            "schema",
        ),
    ],
    ids=["top-level", "step", "agent", "retry", "defaults", "input", "output"],
)
def test_unknown_key_is_located_with_did_you_mean(
    load_error: Any, text: str, field: str, snippet: str, suggestion: str, allowed: str
) -> None:
    err, path = load_error(text)
    problem = assert_located(err, path, field, line_of(text, snippet))
    assert f"did you mean '{suggestion}'?" in problem.message
    assert allowed in problem.fix  # the fix lists the keys allowed there


def test_step_needs_unknown_step(load_error: Any) -> None:
    text = HEAD + "  research: {agent: writer}\n  draft:\n    agent: writer\n    needs: [reserch]\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.draft.needs[0]", line_of(text, "reserch"))
    assert "'reserch'" in problem.message
    assert "did you mean 'research'?" in problem.message
    assert "research" in problem.fix


def test_step_with_unknown_agent(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writr}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.agent", line_of(text, "writr"))
    assert "did you mean 'writer'?" in problem.message
    assert "writer" in problem.fix


# --- the graph -------------------------------------------------------------------------------


def test_cycle_is_printed(load_error: Any) -> None:
    text = HEAD + (
        "  a: {agent: writer, needs: [c]}\n"
        "  b: {agent: writer, needs: [a]}\n"
        "  c: {agent: writer, needs: [b]}\n"
    )
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.needs", line_of(text, "a: {agent"))
    assert "a → b → c → a" in problem.message
    assert "needs" in problem.fix


def test_two_step_cycle(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, needs: b}\n  b: {agent: writer, needs: a}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.needs", line_of(text, "a: {agent"))
    assert "a → b → a" in problem.message


def test_step_that_needs_itself(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer}\n  b: {agent: writer, needs: [a, b]}\n"
    err, path = load_error(text)
    assert len(err.problems) == 1  # reported once, not also as a cycle
    problem = assert_located(err, path, "steps.b.needs", line_of(text, "b: {agent"))
    assert "'b' needs itself" in problem.message


def test_long_chain_written_last_step_first_loads(flow_file: Any) -> None:
    # Each step needs the next one down the file: checking for cycles must not recurse per step.
    n = 1500
    steps = "".join(f"  s{i}: {{agent: writer, needs: [s{i + 1}]}}\n" for i in range(n - 1))
    text = HEAD + steps + f"  s{n - 1}: {{agent: writer}}\n"
    wf = podium.load(flow_file(text))
    assert len(wf.steps) == n


# --- providers -------------------------------------------------------------------------------


def test_agent_with_unknown_provider_lists_installed_ones(load_error: Any) -> None:
    text = "name: t\nagents:\n  w: {provider: bedrok}\nsteps:\n  a: {agent: w}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.provider", line_of(text, "bedrok"))
    assert "unknown provider 'bedrok'" in problem.message
    assert "did you mean 'bedrock'?" in problem.message
    assert re.search(r"installed providers: [a-z0-9, ]*\blocal\b", problem.fix)


def test_default_provider_that_is_not_installed(load_error: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # a cloud whose plugin is left out, as when its extra is not installed
    from podium.plugins import manager

    kept = tuple(p for p in manager.DEFAULT_PLUGINS if not p.startswith("podium.providers.azure."))
    monkeypatch.setattr(manager, "DEFAULT_PLUGINS", kept)
    text = "name: t\nagents: {w: {}}\ndefaults: {provider: azure}\nsteps:\n  a: {agent: w}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "defaults.provider", line_of(text, "azure"))
    assert "'azure' is not installed" in problem.message
    assert re.search(r"installed: [a-z0-9, ]*\blocal\b", problem.message)
    assert "pip install 'podium[azure]'" in problem.fix


def test_unknown_provider_setting(load_error: Any) -> None:
    text = (
        "name: t\nproviders:\n  local:\n    base_ur: http://127.0.0.1:9/v1\n"
        "agents: {w: {}}\nsteps:\n  a: {agent: w}\n"
    )
    err, path = load_error(text)
    problem = assert_located(err, path, "providers.local.base_ur", line_of(text, "base_ur"))
    assert "did you mean 'base_url'?" in problem.message
    assert "base_url" in problem.fix


def test_valid_provider_settings_load(flow_file: Any) -> None:
    text = (
        "name: t\nproviders:\n  local:\n    base_url: http://127.0.0.1:9/v1\n    use_mock: false\n"
        "agents: {w: {}}\nsteps:\n  a: {agent: w}\n"
    )
    wf = podium.load(flow_file(text))
    assert wf.providers["local"] == {"base_url": "http://127.0.0.1:9/v1", "use_mock": False}


# --- provider bindings -----------------------------------------------------------------------


def agents_bound(**sections: str) -> str:
    """A workflow whose agents (name → the text of their binding lines) each bind a provider."""
    agents = "".join(f"  {name}:\n    model: m\n{lines}" for name, lines in sections.items())
    return f"name: t\nagents:\n{agents}steps:\n  a: {{agent: {next(iter(sections))}}}\n"


def test_a_bad_bedrock_binding_is_located_and_names_the_field(load_error: Any) -> None:
    text = agents_bound(writer="    bedrock:\n      agent_id: short\n")
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.writer.bedrock.agent_id", line_of(text, "agent_id: short"))
    assert "should match pattern" in problem.message and '"short"' in problem.message
    assert "ten characters" in problem.fix


def test_every_bad_binding_is_reported_at_once(load_error: Any) -> None:
    text = agents_bound(
        writer="    bedrock: {agnet_id: ABCDEFGHIJ}\n",
        reader="    bedrock:\n      agent_id: ABCDEFGHIJ\n      alias_id: [TSTALIASID]\n",
    )
    err, path = load_error(text)
    assert len(err.problems) == 2, err
    unknown = assert_located(err, path, "agents.writer.bedrock.agnet_id", line_of(text, "agnet_id"))
    assert "unknown key 'agnet_id' in the bedrock binding; did you mean 'agent_id'?" in unknown.message
    assert (unknown.fix or "").startswith("keys of a bedrock binding: agent_id, alias_id, model, runtime_arn")
    assert_located(err, path, "agents.reader.bedrock.alias_id", line_of(text, "alias_id"))


def test_a_valid_bedrock_binding_loads(flow_file: Any) -> None:
    text = agents_bound(writer="    bedrock: {agent_id: ABCDEFGHIJ, alias_id: KLMNOPQRST}\n")
    wf = podium.load(flow_file(text))
    assert wf.agents["writer"].bindings == {"bedrock": {"agent_id": "ABCDEFGHIJ", "alias_id": "KLMNOPQRST"}}


class _HouseBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: str = Field(pattern=r"^/", description="A path on the house gateway, from /.")


def _provider(name: str, binding: type[BaseModel] | None) -> type[Provider]:
    cls = function_provider(name, lambda request: "ok")
    if binding is not None:
        cls.Binding = binding  # type: ignore[attr-defined]
    return cls


def test_each_provider_binding_is_checked_against_its_own_model(
    flow_file: Any, podium_plugins: PluginsFixture
) -> None:
    podium_plugins.register_provider(_provider("house", _HouseBinding), _provider("plain", None))
    text = agents_bound(
        writer="    house: {route: gateway}\n    plain: {anything: [1, 2], goes: true}\n",
        reader="    house: {route: /chat}\n",
    )
    path = flow_file(text)
    with pytest.raises(WorkflowError) as info:
        podium.load(path, plugins=podium_plugins.pm)
    # one problem: the house binding; the plain provider has no Binding model and takes anything
    problem = assert_located(info.value, path, "agents.writer.house.route", line_of(text, "gateway"))
    assert len(info.value.problems) == 1
    assert problem.fix == "route: A path on the house gateway, from /."
    fixed = podium.load(flow_file(text.replace("route: gateway", "route: /gw")), plugins=podium_plugins.pm)
    assert fixed.agents["writer"].bindings["plain"] == {"anything": [1, 2], "goes": True}


def test_a_provider_without_a_binding_model_accepts_any_section(flow_file: Any) -> None:
    text = agents_bound(writer="    local: {whatever: [1, 2], nested: {deep: true}}\n")
    wf = parse(text, providers=["local"], provider_bindings={"bedrock": _HouseBinding})
    assert wf.agents["writer"].bindings == {"local": {"whatever": [1, 2], "nested": {"deep": True}}}


def test_bindings_are_not_checked_when_no_models_are_given() -> None:
    text = agents_bound(writer="    bedrock: {agent_id: short}\n")
    assert parse(text).agents["writer"].bindings == {"bedrock": {"agent_id": "short"}}


# --- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["prompt", "when"])
def test_template_reading_a_step_that_is_not_upstream(load_error: Any, field: str) -> None:
    text = (
        HEAD
        + "  a: {agent: writer}\n  b:\n    agent: writer\n"
        + f"    {field}: '{{{{ steps.a.output }}}}'\n"
    )
    err, path = load_error(text)
    problem = assert_located(err, path, f"steps.b.{field}", line_of(text, f"{field}:"))
    assert "steps.a" in problem.message and "not upstream" in problem.message
    assert "add 'a' to this step's needs" in problem.fix


def test_template_may_read_a_step_upstream_through_another(flow_file: Any) -> None:
    text = HEAD + (
        "  a: {agent: writer}\n"
        "  b: {agent: writer, needs: a}\n"
        "  c: {agent: writer, needs: b, prompt: \"{{ steps['a'].output }} {{ steps.b.output }}\"}\n"
    )
    wf = podium.load(flow_file(text))
    assert wf.steps["c"].needs == ["b"]


def test_template_reading_a_step_that_does_not_exist(load_error: Any) -> None:
    text = HEAD + "  draft: {agent: writer}\noutputs:\n  r: '{{ steps.drat.output }}'\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "outputs.r", line_of(text, "r: '"))
    assert "steps.drat is not a step" in problem.message
    assert "did you mean 'draft'?" in problem.message


def test_template_reading_an_undeclared_input(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, prompt: 'About {{ inputs.topc }}'}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.prompt", line_of(text, "topc"))
    assert "inputs.topc is not a declared input" in problem.message
    assert "did you mean 'topic'?" in problem.message
    assert "topic" in problem.fix


def test_template_reading_an_unknown_name(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, prompt: '{{ item }}'}\n"  # `item` only inside foreach
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.prompt", line_of(text, "item"))
    assert "'item' is not defined" in problem.message
    assert "inputs" in problem.fix and "steps" in problem.fix


def test_foreach_step_may_read_item_and_index(flow_file: Any) -> None:
    text = HEAD + (
        "  plan: {agent: writer, output: json}\n"
        "  each:\n"
        "    agent: writer\n"
        "    needs: plan\n"
        "    foreach: '{{ steps.plan.output }}'\n"
        "    prompt: '#{{ index }}: {{ item }}'\n"
    )
    wf = podium.load(flow_file(text + "mock:\n  plan: {reply: [red, blue]}\n  each: ok\n"))
    run = podium.run(wf, {"topic": "t"}, store=(store := MemoryStore()))
    # the names it accepted are the ones a run fills in: each item's prompt has its index and item
    assert run.steps["each"].output == ["ok", "ok"]
    assert sorted(prompts(store, run, "each")) == ["#0: red", "#1: blue"]


def test_template_may_use_jinja_loop_variable_and_globals(flow_file: Any) -> None:
    # `loop` inside a for-loop and globals such as `range` are Jinja's own, not undeclared names.
    text = HEAD + (
        "  a: {agent: writer, output: json}\n"
        "  b:\n"
        "    agent: writer\n"
        "    needs: a\n"
        "    prompt: '{% for f in steps.a.output %}{{ loop.index }}. {{ f }} {% endfor %}'\n"
        "  c: {agent: writer, prompt: '{% for i in range(3) %}{{ i }}{% endfor %}'}\n"
    )
    wf = podium.load(flow_file(text + "mock:\n  a: {reply: [p, q]}\n  writer: ok\n"))
    run = podium.run(wf, {"topic": "t"}, store=(store := MemoryStore()))
    assert prompts(store, run, "b") == ["1. p 2. q "]
    assert prompts(store, run, "c") == ["012"]


def test_template_syntax_error(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, prompt: 'About {{ inputs.topic '}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.prompt", line_of(text, "About"))
    assert "template syntax error" in problem.message


def test_agent_instructions_reading_a_step_get_a_fix_that_applies_to_agents(
    load_error: Any,
) -> None:
    text = "name: t\nagents:\n  w: {instructions: 'Use {{ steps.a.output }}'}\nsteps:\n  a: {agent: w}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.instructions", line_of(text, "instructions"))
    # an agent has no needs: telling the user to add 'a' to "this step's needs" cannot help
    assert "this step's needs" not in problem.fix


# --- outputs and types -----------------------------------------------------------------------


def test_invalid_json_schema(load_error: Any) -> None:
    text = HEAD + "  a:\n    agent: writer\n    output: {schema: {type: objekt}}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.output.schema", line_of(text, "objekt"))
    assert "invalid JSON Schema" in problem.message
    assert "objekt" in problem.message


def test_invalid_json_schema_in_named_type(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer}\ntypes:\n  Report: {type: objekt}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "types.Report", line_of(text, "objekt"))
    assert "invalid JSON Schema" in problem.message


def test_unknown_output_type(load_error: Any) -> None:
    text = HEAD + ("  a:\n    agent: writer\n    output: {type: Reprot}\ntypes:\n  Report: {type: object}\n")
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.output.type", line_of(text, "Reprot"))
    assert "unknown type 'Reprot'" in problem.message
    assert "did you mean 'Report'?" in problem.message
    assert "string" in problem.fix and "Report" in problem.fix


def test_unknown_output_type_in_shorthand(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, output: strnig}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "steps.a.output.type", line_of(text, "strnig"))
    assert "did you mean 'string'?" in problem.message


def test_named_types_are_usable_by_name(flow_file: Any) -> None:
    text = HEAD + (
        "  a: {agent: writer, output: {type: Report}}\n"
        "  b: {agent: writer, output: Report}\n"
        "  c: {agent: writer, output: integer}\n"
        "  d: {agent: writer, output: json}\n"
        "types:\n"
        "  Report: {type: object, required: [title]}\n"
    )
    wf = podium.load(flow_file(text))
    for sid in ("a", "b"):
        schema = wf.output_schema(wf.steps[sid])
        assert schema["type"] == "object"
        assert schema["required"] == ["title"]
    assert wf.output_schema(wf.steps["c"])["type"] == "integer"
    assert "type" not in wf.output_schema(wf.steps["d"])  # json: any value


# --- mock ------------------------------------------------------------------------------------


def test_mock_key_that_is_neither_step_nor_agent(load_error: Any) -> None:
    text = HEAD + "  draft: {agent: writer}\nmock:\n  drat: hello\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "mock.drat", line_of(text, "drat:"))
    assert "neither a step nor an agent" in problem.message
    assert "did you mean 'draft'?" in problem.message


def test_mock_reply_with_unknown_key_is_one_problem(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer}\nmock:\n  a: {replly: hi}\n"
    err, path = load_error(text)
    # one problem at the misspelt key, not one per member of the union a mock entry may be
    assert [p.field for p in err.problems] == ["mock.a.replly"], str(err)
    problem = assert_located(err, path, "mock.a.replly", line_of(text, "replly"))
    assert "did you mean 'reply'?" in problem.message


def test_mock_reply_with_invalid_regex(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer}\nmock:\n  a: {match: '(', reply: x}\n"
    err, _ = load_error(text)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert problem.field.startswith("mock.a")
    assert problem.line == line_of(text, "match")


# --- function agents -------------------------------------------------------------------------


def function_flow(reference: str) -> str:
    return f"name: t\nagents:\n  w: {{function: '{reference}'}}\nsteps:\n  a: {{agent: w}}\n"


def test_function_agent_whose_module_cannot_be_found(load_error: Any, tmp_path: Path) -> None:
    text = function_flow("nosuchpkg_podium.agents:run")
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.function", line_of(text, "function"))
    assert "nosuchpkg_podium" in problem.message
    assert "ModuleNotFoundError" in problem.message
    assert str(tmp_path) in problem.fix  # where to put it


def test_function_agent_found_in_a_package_next_to_the_workflow(
    flow_file: Any, tmp_path: Path, forget_modules: Any
) -> None:
    forget_modules("podium_test_tools")
    flow_file("", "podium_test_tools/__init__.py")
    flow_file("def shout(prompt):\n    return prompt.upper()\n", "podium_test_tools/agents.py")
    text = function_flow("podium_test_tools.agents:shout")
    wf = podium.load(flow_file(text))
    assert wf.agents["w"].function == "podium_test_tools.agents:shout"
    assert "podium_test_tools.agents" not in sys.modules  # found by reading, not imported
    shout = import_function(wf.agents["w"].function or "", wf.base_dir)
    assert shout("hi") == "HI"
    assert Path(inspect.getfile(shout)).resolve().is_relative_to(tmp_path.resolve())
    assert "podium_test_tools" not in sys.modules  # under the workflow folder's private name
    assert str(tmp_path) not in sys.path  # the workflow's directory is not left on the path


def test_function_agent_missing_function(load_error: Any, flow_file: Any, forget_modules: Any) -> None:
    forget_modules("podium_test_tools2")
    flow_file("def shout(prompt):\n    return prompt\n", "podium_test_tools2.py")
    text = function_flow("podium_test_tools2:shuot")
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.function", line_of(text, "function"))
    assert "shuot" in problem.message
    # the module was found: the fix is about the name in it, not where the module lives
    assert problem.fix == "define shuot in podium_test_tools2, or name a function it has"


@pytest.mark.parametrize(
    ("template", "fix"),
    [
        ("{{ 'x' | uper }}", "did you mean 'upper'?"),
        ("{{ 'x' is evn }}", "did you mean 'even'?"),
        ("{{ 'x' ", "close each {{ }}"),
    ],
)
def test_a_template_error_gets_the_fix_that_fits(load_error: Any, template: str, fix: str) -> None:
    steps = f'steps: {{s: {{agent: a, prompt: "{template}"}}}}'
    text = f"name: t\nagents: {{a: {{}}}}\n{steps}\nmock: {{a: ok}}\n"
    err, _ = load_error(text)
    [problem] = err.problems
    assert problem.fix is not None and problem.fix.startswith(fix)


def test_function_agent_not_of_the_form_module_function(load_error: Any) -> None:
    text = function_flow("mypkg.agents.score")
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.function", line_of(text, "function"))
    assert "module:function" in problem.fix


def test_function_agent_package_of_same_name_in_a_sibling_directory(
    tmp_path: Path, forget_modules: Any
) -> None:
    # `proj2` starts with `proj`: its package must not pass for the one next to proj/flow.yaml.
    forget_modules("podium_test_shared")
    for project, func in (("proj", "score"), ("proj2", "other")):
        pkg = tmp_path / project / "podium_test_shared"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "agents.py").write_text(f"def {func}(prompt):\n    return {project!r}\n")
        (tmp_path / project / "flow.yaml").write_text(
            f"name: t\nagents:\n  w: {{function: 'podium_test_shared.agents:{func}'}}\n"
            "steps:\n  a: {agent: w}\n"
        )
    other = podium.run(podium.load(tmp_path / "proj2" / "flow.yaml"), store=MemoryStore())
    run = podium.run(podium.load(tmp_path / "proj" / "flow.yaml"), store=MemoryStore())
    # each workflow calls the function of the package beside it, not the one loaded first
    assert (other.steps["a"].output, run.steps["a"].output) == ("proj2", "proj")


# --- several problems at once ----------------------------------------------------------------


def test_every_problem_is_reported_sorted_by_line(load_error: Any) -> None:
    text = HEAD + (
        "  a: {agent: writr}\n"
        "  b: {agent: writer, needs: [zz]}\n"
        "  c: {agent: writer, output: {type: Reprot}}\n"
        "mock:\n"
        "  nope: hi\n"
    )
    err, path = load_error(text)
    assert [p.field for p in err.problems] == [
        "steps.a.agent",
        "steps.b.needs[0]",
        "steps.c.output.type",
        "mock.nope",
    ]
    lines = [p.line for p in err.problems]
    assert lines == [
        line_of(text, "writr"),
        line_of(text, "zz"),
        line_of(text, "Reprot"),
        line_of(text, "nope"),
    ]
    assert str(err).startswith(f"4 problems in {path}")
    assert all(p.fix for p in err.problems)


def test_unknown_keys_and_other_problems_are_reported_in_one_pass(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writr, neds: [b]}\n  b: {agent: writer}\nmock: {zz: 1}\n"
    err, _ = load_error(text)
    assert [p.field for p in err.problems] == ["steps.a.agent", "steps.a.neds", "mock.zz"]
    assert [p.line for p in err.problems] == [7, 7, 9]
    assert err.problems[0].column < err.problems[1].column  # same line: sorted by column


def test_several_unknown_keys_are_reported_together(load_error: Any) -> None:
    text = HEAD + "  a: {agent: writer, neds: [b]}\n  b: {agent: writer, promt: hi}\nstep: 1\n"
    err, _ = load_error(text)
    assert [p.field for p in err.problems] == ["steps.a.neds", "steps.b.promt", "step"]
    assert [p.line for p in err.problems] == [7, 8, 9]


# --- inputs ----------------------------------------------------------------------------------

INPUTS = """\
name: t
inputs:
  s: string
  n: integer
  f: {type: number, default: 1.5}
  b: {type: boolean, default: false}
  o: {type: object, default: {}}
  a: {type: array, default: []}
  e: {type: string, enum: [x, y], default: x}
agents: {w: {}}
steps:
  go: {agent: w}
"""


@pytest.fixture
def inputs_flow() -> Workflow:
    return parse(INPUTS, file="inputs.yaml", providers=["local"])


def test_input_defaults_are_filled_in(inputs_flow: Workflow) -> None:
    assert resolve_inputs(inputs_flow, {"s": "hi", "n": 2}) == {
        "s": "hi",
        "n": 2,
        "f": 1.5,
        "b": False,
        "o": {},
        "a": [],
        "e": "x",
    }


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("n", "3", 3),
        ("n", " 42 ", 42),
        ("f", "2.5", 2.5),
        ("f", "1e3", 1000.0),
        ("f", "2", 2),
        ("b", "true", True),
        ("b", "FALSE", False),
        ("b", "yes", True),
        ("b", "0", False),
        ("o", '{"k": [1, 2]}', {"k": [1, 2]}),
        ("a", "[1, 2]", [1, 2]),
        ("s", "3", "3"),  # a string input keeps text as text
    ],
)
def test_command_line_text_is_converted(inputs_flow: Workflow, name: str, text: str, value: Any) -> None:
    given = {"s": "hi", "n": "1", name: text}
    resolved = resolve_inputs(inputs_flow, given)
    assert resolved[name] == value
    assert type(resolved[name]) is type(value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("n", "3.0", "must be integer"),
        ("n", "three", "must be integer"),
        ("n", True, "must be integer"),
        ("f", "fast", "must be number"),
        ("b", "maybe", "must be boolean"),
        ("o", "{bad json", "must be object"),
        ("o", "[1]", "must be object"),
        ("a", '{"k": 1}', "must be array"),
        ("s", 3, "must be string"),
        ("e", "z", "must be one of"),
    ],
)
def test_bad_input_values_are_refused(inputs_flow: Workflow, name: str, value: Any, says: str) -> None:
    given = {"s": "hi", "n": 1, name: value}
    with pytest.raises(InputError) as info:
        resolve_inputs(inputs_flow, given)
    err = info.value
    assert err.exit_code == 2
    assert f"input '{name}'" in err.message
    assert says in err.message
    assert err.fix


def test_missing_required_input(inputs_flow: Workflow) -> None:
    with pytest.raises(InputError) as info:
        resolve_inputs(inputs_flow, {"s": "hi"})
    assert info.value.exit_code == 2
    assert "missing required input 'n'" in info.value.message
    assert "-i n=" in info.value.fix


def test_unknown_input_suggests_a_declared_one(inputs_flow: Workflow) -> None:
    with pytest.raises(InputError) as info:
        resolve_inputs(inputs_flow, {"s": "hi", "n": 1, "ee": "x"})
    assert "'ee' is not an input" in info.value.message
    assert "did you mean 'e'?" in info.value.message


def test_input_default_of_the_wrong_type(load_error: Any) -> None:
    text = "name: t\ninputs:\n  n: {type: integer, default: abc}\nagents: {w: {}}\nsteps:\n  a: {agent: w}\n"
    err, path = load_error(text)
    problem = assert_located(err, path, "inputs.n.default", line_of(text, "abc"))
    assert "must be integer" in problem.message


def test_agent_tool_that_cannot_be_imported(load_error: Any, tmp_path: Path) -> None:
    text = (
        "name: t\nagents:\n  w:\n    tools:\n      get_weather: nosuchpkg_podium.tools:get_weather\n"
        "steps:\n  a: {agent: w}\n"
    )
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.tools.get_weather", line_of(text, "get_weather"))
    assert "nosuchpkg_podium" in problem.message and "ModuleNotFoundError" in problem.message
    assert str(tmp_path) in problem.fix


def test_mock_tool_reply_is_parsed_and_cannot_also_reply(flow_file: Any, load_error: Any) -> None:
    head = "name: t\nagents:\n  w: {tools: {get_weather: 'os:getcwd'}}\nsteps:\n  a: {agent: w}\nmock:\n"
    wf = podium.load(flow_file(head + "  a: [{tool: {name: get_weather, input: {city: Paris}}}, sunny]\n"))
    first = wf.mock["a"][0]
    assert first.tool.name == "get_weather" and first.tool.input == {"city": "Paris"}
    err, _ = load_error(head + "  a: [{tool: {name: get_weather}, reply: sunny}]\n")
    assert "tool:" in str(err)


def test_a_tool_in_the_long_form_names_its_function_and_approval(flow_file: Any) -> None:
    text = (
        "name: t\ndefaults: {max_tool_rounds: 4}\nagents:\n  w:\n    tools:\n"
        "      short: os.path:basename\n"
        "      gated: {function: 'os.path:dirname', approval: true}\n"
        "steps:\n  a: {agent: w, max_tool_rounds: 2}\n"
    )
    wf = podium.load(flow_file(text))
    agent = wf.agents["w"]
    assert agent.tool_functions == {"short": "os.path:basename", "gated": "os.path:dirname"}
    assert agent.approval_tools == frozenset({"gated"})
    assert wf.defaults.max_tool_rounds == 4 and wf.steps["a"].max_tool_rounds == 2


def test_a_misspelt_key_of_a_tool_is_located(load_error: Any) -> None:
    text = (
        "name: t\nagents:\n  w:\n    tools:\n      gated: {function: 'os.path:dirname', approvel: true}\n"
        "steps:\n  a: {agent: w}\n"
    )
    err, _ = load_error(text)
    [problem] = err.problems  # one problem, in the tool's own terms (not one per form it could take)
    assert problem.field == "agents.w.tools.gated.approvel" and problem.line == line_of(text, "approvel")


def test_a_bad_import_of_a_long_form_tool_is_located_at_the_tool(load_error: Any) -> None:
    text = (
        "name: t\nagents:\n  w:\n    tools:\n      gated: {function: 'os.path:nothere'}\n"
        "steps:\n  a: {agent: w}\n"
    )
    err, path = load_error(text)
    problem = assert_located(err, path, "agents.w.tools.gated", line_of(text, "gated"))
    assert "nothere" in problem.message


def test_a_template_reading_pythons_own_attributes_is_refused_at_load_naming_each(
    load_error: Any, flow_file: Any
) -> None:
    # what the sandbox would refuse at render, said before anything runs, with the line and a fix
    text = (
        "name: t\nagents: {w: {provider: local}}\nmock: {w: hi}\nsteps:\n"
        "  a: {agent: w, prompt: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}\n"
        "  b: {agent: w, prompt: \"{% for k in inputs %}{{ k['__init__'] }}{% endfor %}\"}\n"
    )
    err, _ = load_error(text)
    said = {(p.field, p.message) for p in err.problems}
    for name in ("__class__", "__mro__", "__subclasses__"):
        assert ("steps.a.prompt", f"reads '{name}': a template may not read Python's own attributes") in said
    assert ("steps.b.prompt", "reads '__init__': a template may not read Python's own attributes") in said
    assert all(p.line == 5 for p in err.problems if p.field == "steps.a.prompt")
    assert all("steps.ID.output" in (p.fix or "") for p in err.problems)


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + "(" * 300 + "inputs.x" + ")" * 300 + " }}",
        "{{ " + "not " * 1000 + "inputs.x }}",
        "{{ " + " + ".join(["inputs.x"] * 3000) + " }}",
        "{% if true %}" * 300 + "x" + "{% endif %}" * 300,
    ],
    ids=["brackets", "nots", "operators", "blocks"],
)
def test_a_template_nested_past_the_parsers_stack_is_refused_with_its_line(
    load_error: Any, template: str
) -> None:
    # jinja parses by recursion: nesting a few hundred deep once crashed `validate` with a RecursionError
    text = (
        "name: t\ninputs: {x: {type: string, default: a}}\nagents: {w: {provider: local}}\n"
        f"mock: {{w: hi}}\nsteps:\n  a: {{agent: w, prompt: {json.dumps(template)}}}\n"
    )
    err, _ = load_error(text)
    [problem] = err.problems
    assert problem.field == "steps.a.prompt" and problem.line == 6
    assert "nests too deeply" in problem.message and "nest less" in (problem.fix or "")


def test_a_mappings_own_keys_with_underscores_are_read_as_items(flow_file: Any) -> None:
    # `_id` and `__meta__` are no value's attributes: a mapping's keys of those names are data
    path = flow_file(
        "name: t\ninputs: {doc: {type: object, default: {_id: 7, __meta__: m}}}\n"
        "agents: {w: {provider: local}}\nmock: {w: hi}\nsteps:\n"
        "  a: {agent: w, prompt: \"{{ inputs.doc._id }} {{ inputs.doc['__meta__'] }}\"}\n"
    )
    store = MemoryStore()
    run = podium.run(path, store=store)
    assert run.status == "succeeded"
    assert prompts(store, run, "a") == ["7 m"]


def test_a_file_that_is_not_utf8_is_refused_saying_where_and_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: t\nsteps:\n  a: {prompt: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(WorkflowError) as info:
        podium.load(path)
    [problem] = info.value.problems
    assert problem.file == str(path) and problem.line == 3
    assert problem.message.startswith("not UTF-8 text") and "UTF-8" in (problem.fix or "")


@pytest.mark.parametrize(
    ("text", "field", "fix"),
    [
        ("budget: 0.5\n", "budget", "write budget: {run: 0.5}"),
        ("budget: [1]\n", "budget", "write it as a mapping of: run, daily, monthly, warn_at"),
        ("defaults: 3\n", "defaults", "write it as a mapping of: provider, retry, timeout"),
    ],
)
def test_a_scalar_where_a_mapping_goes_says_which_keys_go_there(
    load_error: Any, text: str, field: str, fix: str
) -> None:
    # was pydantic's "Input should be a valid dictionary or instance of Budget", with no fix
    err, _ = load_error(
        "name: t\n" + text + "agents: {w: {provider: local}}\nmock: {w: hi}\nsteps: {a: {agent: w}}\n"
    )
    [problem] = err.problems
    assert problem.field == field and problem.line == 2
    assert problem.message.startswith("must be a mapping, not ")
    assert (problem.fix or "").startswith(fix)


def test_a_step_or_agent_that_is_not_a_mapping_lists_the_keys_it_takes(load_error: Any) -> None:
    err, _ = load_error("name: t\nagents: {w: 3}\nsteps:\n  a: 5\n")
    said = {p.field: p for p in err.problems}
    assert said["steps.a"].message == "must be a mapping, not 5" and "agent, approval" in (
        said["steps.a"].fix or ""
    )
    assert said["agents.w"].message == "must be a mapping, not 3" and "provider, model" in (
        said["agents.w"].fix or ""
    )
