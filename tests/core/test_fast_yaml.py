"""libyaml reads a workflow exactly as ruamel does, or leaves it to ruamel; problems keep their lines."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Any

import pytest

import podium.core.loader as loader
from podium.core.errors import WorkflowError
from podium.core.loader import fast_yaml, parse
from podium.core.loader.fast_yaml import NotFast, read_fast
from podium.core.loader.positions import _parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

needs_libyaml = pytest.mark.skipif(not fast_yaml.available(), reason="PyYAML without libyaml")


def ruamel_reads(text: str) -> Any:
    return _parse_yaml(text, "f.yaml")[0]


# Plain scalars YAML 1.1 (PyYAML's default) and YAML 1.2 (ruamel's) read differently, other forms
# libyaml and ruamel read differently, and the ones they agree on.
TRICKY = [
    "a: yes",
    "a: no",
    "a: on",
    "a: off",
    "a: y",
    "a: N",
    "a: 0755",
    "a: 0o755",
    "a: 00",
    "a: 0x1f",
    "a: 0b101",
    "a: 1_000",
    "a: 1:20",
    "a: 190:20:30.15",
    "a: 12:30:00",
    "a: 2024-01-01",
    "a: 2024-01-01 12:00:00",
    "a: 1e3",
    "a: 1.",
    "a: .5",
    "a: .inf",
    "a: -.INF",
    "a: .nan",
    "a: +1",
    "a: -0",
    "a: 1.50",
    "a: 10000000000000000000000",
    "a: true",
    "a: FALSE",
    "a: ~",
    "a:",
    "a: Null",
    "a: =",
    "<<: {b: 1}",
    "a: &x {b: 1}\nc: *x",
    "a: &x true",
    "a: !!str 1",
    "a: !!int 0755",
    "a: !!bool yes",
    "a: ! 1",
    "a: !foo x",
    "a: != x",
    "%YAML 1.1\n---\na: yes",
    "1: x",
    "true: x",
    "? [a]\n: b",
    "a: [1, 2.5, {b: c, d: null}]",
    "a: |\n  line\n  two\n",
    "a: >\n  folded\n  text\n",
    "a: '{{ inputs.x != 1 }}'",
    "a: R&D",
    "a:\tb",
    'a: "t\\tab"',
    "a: |\r\n  x\r\n  y\r\nb: 1\r\n",
    "\ufeffa: 1",
    "- a\n- b",
    "just text",
    "",
    "# only a comment\n",
    "---\na: 1\n...\n",
    "---\n",
    "a: 1\n---\n",
    "{a: 1, b: [x, [y, {c: d}]], e: {f: {g: []}}, h: {}}",
    "? {a: b}\n: c",
    "a: [&x 1, *x]",
    "- [a, b]\n- {c: [d]}\n-\n",
]


@needs_libyaml
@pytest.mark.parametrize("text", TRICKY)
def test_libyaml_reads_as_ruamel_or_leaves_it(text: str) -> None:
    try:
        expected = ruamel_reads(text)
    except WorkflowError:  # what ruamel refuses, ruamel must be the one to refuse
        with pytest.raises(NotFast):
            read_fast(text)
        return
    try:
        got = read_fast(text)
    except NotFast:
        return
    # the same values of the same types: True is not 1, '0755' is not 493, 'yes' is not True
    assert repr(got) == repr(expected)
    assert got == expected


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "a: 0755",  # octal in YAML 1.1, 755 in ruamel
        "a: 2024-01-01",  # a date in both, which ruamel reads into its own type
        "a: 1e3",
        "<<: {b: 1}",  # a merge key
        "a: !!str 1",  # ruamel keeps the tag: a TaggedScalar
        "a: &x true",  # ruamel reads an anchored scalar into a subclass
        "%YAML 1.1\n---\na: yes",  # True in ruamel, under the 1.1 directive
        "a: 1\na: 2",  # a duplicate key: ruamel reports it
        "a: 1\n---\nb: 2",  # two documents: ruamel reports it
        "1: x",  # a key that is not text
        "a: [unclosed",  # malformed: ruamel says where
        "a:\tb",  # libyaml takes this tab, ruamel refuses it
    ],
)
def test_what_may_read_differently_is_left_to_ruamel(text: str) -> None:
    with pytest.raises(NotFast):
        read_fast(text)


@needs_libyaml
@pytest.mark.parametrize("text", ["a: yes", "a: 1:20", "a: '{{ x != 1 }}'", "a: [1, 2.5, true, null]"])
def test_the_common_case_is_read_fast(text: str) -> None:
    assert read_fast(text) == ruamel_reads(text)


@needs_libyaml
@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*/*.yaml")), ids=lambda p: p.name)
def test_the_examples_are_read_fast_and_the_same(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert read_fast(text) == ruamel_reads(text)


def test_without_libyaml_ruamel_reads_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_yaml, "_CParser", None)
    assert not fast_yaml.available()
    with pytest.raises(NotFast):
        read_fast("a: 1")
    wf = parse("name: t\nagents: {w: {instructions: x}}\nsteps:\n  s: {agent: w, prompt: go}\n")
    assert list(wf.steps) == ["s"]


FLOW = """\
name: t
inputs:
  topic: {type: string, default: yes}
  when: {type: string, default: '2024-01-01'}
agents:
  writer: {instructions: You write., model: m}
steps:
  draft: {agent: writer, prompt: "{{ inputs.topic }}", retry: {attempts: 2}}
  check: {agent: writer, needs: [draft], prompt: "{{ steps.draft.output != '' }}"}
mock:
  draft: [first, {reply: second, latency: 0.5}]
  check: 1.5
"""


def _slow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> Any:
        raise NotFast

    monkeypatch.setattr(loader, "read_fast", refuse)


@needs_libyaml
def test_the_workflow_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_fast(FLOW)  # this file does take the fast path
    fast = parse(FLOW)
    _slow_only(monkeypatch)
    slow = parse(FLOW)
    assert fast == slow
    assert repr(fast.model_dump()) == repr(slow.model_dump())
    assert fast.inputs["topic"].default == "yes"


@needs_libyaml
@pytest.mark.parametrize(
    ("text", "needle", "where"),
    [
        (FLOW.replace("needs: [draft]", "needs: [draf]"), "did you mean 'draft'?", "draf]"),
        (FLOW.replace("retry: {", "retyr: {"), "did you mean 'retry'?", "retyr"),
        (FLOW.replace("{{ inputs.topic }}", "{{ inputs.topik }}"), "topik", "topik"),
    ],
)
def test_a_problem_found_on_the_fast_path_keeps_its_line(
    monkeypatch: pytest.MonkeyPatch, text: str, needle: str, where: str
) -> None:
    assert read_fast(text)  # read fast, then the checks find the problem
    with pytest.raises(WorkflowError) as fast:
        parse(text, file="flow.yaml")
    _slow_only(monkeypatch)
    with pytest.raises(WorkflowError) as slow:
        parse(text, file="flow.yaml")
    assert fast.value.problems == slow.value.problems
    assert str(fast.value) == str(slow.value)
    problem = fast.value.problems[0]
    assert needle in problem.message
    assert problem.line is not None and problem.column is not None
    assert problem.line == next(i for i, line in enumerate(text.splitlines(), 1) if where in line)


@needs_libyaml
@pytest.mark.parametrize("text", ["a: 1", "a: [unclosed"])
def test_the_collector_paused_for_a_read_runs_again(text: str) -> None:
    assert gc.isenabled()
    with contextlib.suppress(NotFast):
        read_fast(text)
    assert gc.isenabled()
    gc.disable()
    try:
        with contextlib.suppress(NotFast):
            read_fast(text)
        assert not gc.isenabled()  # paused by the caller, it stays paused
    finally:
        gc.enable()


@needs_libyaml
def test_a_repeated_text_is_kept_once() -> None:
    # a 10,000-step file says `prompt: go` 10,000 times: one string, not one per step
    data = read_fast("s1: {agent: w, prompt: go}\ns2: {agent: w, prompt: go, needs: [s1]}\n")
    s1, s2 = data["s1"], data["s2"]
    assert s1 == {"agent": "w", "prompt": "go"} and s2["needs"] == ["s1"]
    assert s1["prompt"] is s2["prompt"] and s1["agent"] is s2["agent"]
    assert next(iter(s2)) is next(iter(s1))  # the keys too


def test_steps_setting_the_same_fields_share_one_set_and_a_copy_gets_its_own() -> None:
    text = "name: t\nagents: {w: {instructions: x}}\nsteps:\n  a: {agent: w, prompt: go}\n"
    text += "  b: {agent: w, prompt: go}\n  c: {agent: w, prompt: go, needs: [a]}\n"
    steps = parse(text).steps
    assert steps["a"].model_fields_set is steps["b"].model_fields_set
    assert steps["c"].model_fields_set == {"agent", "prompt", "needs"}
    changed = steps["a"].model_copy(update={"timeout": 3.0})
    assert changed.model_fields_set == {"agent", "prompt", "timeout"}
    assert steps["b"].model_fields_set == {"agent", "prompt"}
