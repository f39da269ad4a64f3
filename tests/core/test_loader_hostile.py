"""Hostile workflow files a new user writes: each gets a problem naming the file, the field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import podium
from podium.core.errors import InputError, WorkflowError
from podium.core.loader import parse, resolve_inputs
from podium.core.store import MemoryStore


def _problems(path: Path) -> list:
    with pytest.raises(WorkflowError) as info:
        podium.load(path)
    assert info.value.exit_code == 2
    return info.value.problems


def test_a_symlink_loop_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    [problem] = _problems(tmp_path / "a.yaml")
    assert problem.file == str(tmp_path / "a.yaml")
    assert "cannot read" in problem.message
    assert "symbolic links" in problem.message
    assert problem.fix


HEAD = "name: t\nagents: {w: {}}\n"


def _parsed_problems(text: str) -> list:
    with pytest.raises(WorkflowError) as info:
        parse(text, file="flow.yaml")
    return info.value.problems


def test_a_value_of_two_shapes_is_one_problem_at_its_own_field() -> None:
    problems = _parsed_problems(HEAD + "steps:\n  a: {agent: w, when: 3, foreach: 4}\n")
    assert [(p.field, p.line) for p in problems] == [("steps.a.when", 4), ("steps.a.foreach", 4)]
    when, foreach = problems
    assert "must be text or a boolean" in when.message and "true or false" in (when.fix or "")
    assert "must be text or a list" in foreach.message and "[a, b]" in (foreach.fix or "")


def test_a_misspelt_choice_suggests_the_right_one() -> None:
    [problem] = _parsed_problems(HEAD + "inputs:\n  n: {type: integr}\nsteps:\n  a: {agent: w}\n")
    assert problem.field == "inputs.n.type"
    assert "did you mean 'integer'?" in problem.message
    assert problem.fix and "string, integer, number" in problem.fix


def test_a_wrong_value_inside_a_mock_reply_is_named_not_the_whole_entry() -> None:
    text = (
        HEAD + "steps:\n  a: {agent: w}\n  b: {agent: w}\nmock:\n"
        "  a: {reply: x, error: crashed}\n  b: [ok, {reply: y, latency: slow}]\n"
    )
    error, latency = _parsed_problems(text)
    assert (error.field, error.line) == ("mock.a.error", 7)
    assert error.fix == "use one of: throttled, transient, invalid_request, auth"
    assert (latency.field, latency.line) == ("mock.b[1].latency", 8)
    assert latency.fix and "number" in latency.fix


def test_every_wrong_type_carries_a_fix() -> None:
    text = (
        "name: [1]\nagents:\n  w: {instructions: [a], options: hot}\n"
        "defaults: {retry: {attempts: three}, concurrency: 0, timeout: soon}\n"
        "steps:\n  a: {agent: w, prompt: 5, recover: maybe, approval: {on_timeout: explode}}\n"
        "outputs: [1]\n"
    )
    problems = _parsed_problems(text)
    assert len(problems) == 10, problems
    assert all(p.fix for p in problems), [str(p) for p in problems if not p.fix]
    timeout = next(p for p in problems if p.field == "defaults.timeout")
    assert "5m" in (timeout.fix or "")


def test_defaults_timeout_takes_a_duration_as_a_steps_does() -> None:
    wf = parse(HEAD + "defaults: {timeout: 5m}\nsteps:\n  a: {agent: w, timeout: 90s}\n")
    assert wf.defaults.timeout == 300
    assert wf.steps["a"].timeout == 90


def test_reading_a_later_step_does_not_advise_a_cycle() -> None:
    text = HEAD + (
        "steps:\n"
        "  u: {agent: w, prompt: '{{ steps.later.output }}'}\n"
        "  later: {agent: w, needs: [u], prompt: '{{ steps.later.output }}'}\n"
        "  side: {agent: w, prompt: '{{ steps.u.output }} {{ steps.u.output }}'}\n"
    )
    found = _parsed_problems(text)
    assert len(found) == 3, "the same wrong read twice in one template is one problem"
    problems = {p.field: p for p in found}
    assert "runs after this step" in (problems["steps.u.prompt"].fix or "")
    assert "its own output" in (problems["steps.later.prompt"].fix or "")
    assert problems["steps.side.prompt"].fix == "add 'u' to this step's needs"


def test_a_wrong_default_is_fixed_in_the_file_not_with_a_flag() -> None:
    text = HEAD + "inputs:\n  n: {type: integer, default: x}\nsteps:\n  a: {agent: w}\n"
    [problem] = _parsed_problems(text)
    assert problem.field == "inputs.n.default"
    assert problem.fix == "write an integer default, or change type:"


def test_a_key_written_twice_says_which_and_to_keep_one() -> None:
    [problem] = _parsed_problems(HEAD + "steps:\n  a: {agent: w}\n  b: {agent: w}\n  a: {agent: w}\n")
    assert (problem.line, problem.column) == (6, 3)
    assert problem.message == "duplicate key 'a': written twice in the mapping that starts at line 4"
    assert problem.fix and "keep one" in problem.fix


def test_a_tab_in_the_indentation_says_spaces() -> None:
    [problem] = _parsed_problems("name: t\nagents:\n\tw: {}\nsteps:\n  a: {agent: w}\n")
    assert problem.line == 3
    assert problem.fix and "spaces, never tabs" in problem.fix


def test_nesting_past_the_bound_is_refused_however_the_file_is_read() -> None:
    # libyaml's fast read took 990 levels that ruamel's read refuses past 100
    deep = "{a: " * 150 + "1" + "}" * 150
    text = f"name: t\nagents: {{w: {{options: {{o: {deep}}}}}}}\nsteps:\n  a: {{agent: w}}\nmock: {{w: ok}}\n"
    [problem] = _parsed_problems(text)
    assert problem.message == "the YAML nests deeper than 100 levels"
    assert problem.line == 2 and problem.fix


def test_a_function_reference_to_a_plain_value_is_refused_before_the_run(tmp_path: Path) -> None:
    module = "LIMIT = 5\nmaybe = 1\nmaybe = len\ndef real(prompt):\n    return prompt\n"
    (tmp_path / "things.py").write_text(module)
    agents = (
        "  a: {function: 'things:LIMIT'}\n  b: {function: 'things:maybe'}\n  c: {function: 'things:real'}\n"
    )
    steps = "steps:\n  x: {agent: a}\n  y: {agent: b}\n  z: {agent: c}\n"
    (tmp_path / "flow.yaml").write_text(f"name: t\nagents:\n{agents}{steps}")
    [problem] = _problems(tmp_path / "flow.yaml")
    assert (problem.field, problem.line) == ("agents.a.function", 3)
    assert "things.LIMIT is a plain value (line 1), not a function" in problem.message
    assert problem.fix == "name a function (def …) of the module"


def test_an_input_of_the_wrong_json_type_says_what_to_give() -> None:
    wf = parse(HEAD + "inputs:\n  n: {type: integer}\n  o: {type: object}\nsteps:\n  a: {agent: w}\n")
    with pytest.raises(InputError) as info:
        resolve_inputs(wf, {"n": True, "o": {}})
    assert info.value.fix == "give 'n' an integer value"


def test_the_readmes_example_of_a_mistake_is_what_podium_prints() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    text = (
        "name: brief\nagents:\n  writer: {instructions: hi}\nsteps:\n  research: {agent: writer}\n"
        "  draft:\n    agent: writer\n    prompt: y\n    neds: [research]\n"
    )
    [problem] = _parsed_problems(text)
    assert f"\n  {problem}\n" in readme, str(problem)


def test_a_types_bad_ref_is_reported_at_that_type_only(tmp_path: Path) -> None:
    # every type rides along as $defs of the others and of each step's schema
    (tmp_path / "flow.yaml").write_text(
        "name: t\ntypes:\n  Verdict: {type: object}\n  Bad: {$ref: missing.json}\n"
        "agents: {w: {}}\nsteps:\n  a: {agent: w, output: Verdict}\n"
        "  b: {agent: w, output: {schema: {type: object}}}\nmock: {w: '{}'}\n"
    )
    [problem] = _problems(tmp_path / "flow.yaml")
    assert (problem.field, problem.line) == ("types.Bad", 4)
    assert "missing.json" in problem.message


def test_a_tool_of_the_wrong_shape_is_named_with_its_keys() -> None:
    text = (
        "name: t\nagents:\n  w: {tools: {lookup: 5, refund: {fn: 'x:y'}}}\n"
        "steps:\n  a: {agent: w}\nmock: {w: ok}\n"
    )
    problems = {p.field: p for p in _parsed_problems(text)}
    lookup = problems["agents.w.tools.lookup.function"]
    assert "valid string" in lookup.message and lookup.fix and "text" in lookup.fix
    refund = problems["agents.w.tools.refund.fn"]
    assert refund.fix == "keys allowed in agents.w.tools.refund: function, approval"


def test_a_foreach_or_when_over_jinjas_lazy_sequences_reads_them_as_lists(tmp_path: Path) -> None:
    # range(), select, map, reject give lazy values: a foreach refused them ('gave generator'),
    # and a when: found an empty one true
    (tmp_path / "flow.yaml").write_text(
        "name: t\ninputs: {xs: {type: array, default: ['a', '', 'b']}}\nagents: {w: {}}\nsteps:\n"
        "  r: {agent: w, foreach: '{{ range(2) }}', prompt: '{{ item }}'}\n"
        "  m: {agent: w, foreach: \"{{ inputs.xs | select | map('upper') }}\", prompt: '{{ item }}'}\n"
        '  e: {agent: w, when: "{{ inputs.xs | select }}", prompt: x}\n'
        "mock: {w: ok}\n"
    )
    run = podium.run(tmp_path / "flow.yaml", {"xs": ["", ""]}, store=MemoryStore())
    assert run.status == "succeeded", run.error
    assert run.steps["r"].output == ["ok", "ok"]
    assert run.steps["m"].output == []
    assert run.steps["e"].status == "skipped"


def test_a_section_with_every_entry_commented_out_is_empty() -> None:
    text = (
        "name: t\nagents:\n  w: {}\ninputs:\n#  topic: string\noutputs:\nmock:\n  w: ok\n"
        "types:\nsteps:\n  a: {agent: w}\n"
    )
    wf = parse(text)
    assert wf.inputs == {} and wf.outputs == {} and wf.types == {}


def test_a_second_yaml_document_says_so() -> None:
    [problem] = _parsed_problems("name: a\nagents: {w: {}}\nsteps: {a: {agent: w}}\n---\nname: b\n")
    assert problem.line == 4 and "second document" in problem.message
    assert problem.fix and "one YAML document" in problem.fix


def test_a_mock_asking_for_a_tool_the_agent_lacks_is_refused_by_validate() -> None:
    text = (
        "name: t\nagents:\n  a: {tools: {lookup: 'os.path:basename'}}\nsteps:\n  s: {agent: a}\n"
        "mock:\n  s: [{tool: {name: lokup}}, done]\n"
    )
    [problem] = _parsed_problems(text)
    assert (problem.field, problem.line) == ("mock.s[0].tool.name", 7)
    assert "did you mean 'lookup'?" in problem.message
    assert problem.fix and "agents.a.tools" in problem.fix


def test_a_broken_type_hides_no_steps_own_bad_ref(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        "name: t\ntypes:\n  Bad: {$ref: missing.json}\n  Ok: {type: object}\nagents: {w: {}}\nsteps:\n"
        "  a: {agent: w, output: {schema: {properties: {x: {$ref: 'https://example.com/x.json'}}}}}\n"
        "  b: {agent: w, output: {schema: {$ref: '#/$defs/Ok'}}}\nmock: {w: '{}'}\n"
    )
    problems = {p.field: p.message for p in _problems(tmp_path / "flow.yaml")}
    assert set(problems) == {"types.Bad", "steps.a.output.schema"}, problems
    assert "podium fetches no schema" in problems["steps.a.output.schema"]
