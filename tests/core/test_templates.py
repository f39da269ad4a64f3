"""Prompt templates: a lone expression gives a value, text stays text; sandboxed; references."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podium.core.errors import PodiumError, TemplateError
from podium.core.templates import Reference, check_syntax, references, render, truthy

WHERE = "steps.draft.prompt"


def r(source: Any, **context: Any) -> Any:
    return render(source, context, where=WHERE)


# --- values and text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"title": "T", "body": ["a", "b"]}, True, False, [1, 2], 3, 2.5, None, "text"],
    ids=repr,
)
def test_lone_expression_yields_the_value_itself(value: Any) -> None:
    result = r("{{ x }}", x=value)
    assert result == value
    assert type(result) is type(value)


def test_lone_expression_may_have_surrounding_whitespace() -> None:
    # a YAML block scalar (`prompt: |`) leaves a trailing newline
    assert r("  {{ steps.a.output }}\n", steps={"a": {"output": {"k": 1}}}) == {"k": 1}


def test_lone_expression_computes() -> None:
    assert r("{{ inputs.n + 1 }}", inputs={"n": 2}) == 3
    assert r("{{ inputs.topic != '' }}", inputs={"topic": "x"}) is True
    assert r("{{ steps.plan.output.topics }}", steps={"plan": {"output": {"topics": ["a"]}}}) == ["a"]


def test_mixed_text_renders_text_with_objects_as_json() -> None:
    out = r("Brief from {{ facts }} and {{ angles }}.", facts={"n": 1, "é": "ü"}, angles=["a", "b"])
    assert isinstance(out, str)
    start, end = out.index("{"), out.index("}") + 1
    assert json.loads(out[start:end]) == {"n": 1, "é": "ü"}
    assert '["a", "b"]' in out
    assert out.startswith("Brief from ") and out.endswith(".")
    assert "'n'" not in out  # not Python's repr


def test_two_expressions_are_text_not_a_value() -> None:
    assert r("{{ a }}{{ b }}", a=1, b=2) == "12"


def test_tojson_filter() -> None:
    assert r("data: {{ x | tojson }}", x={"a": [1, None]}) == 'data: {"a": [1, null]}'


def test_loops_render() -> None:
    assert r("{% for t in xs %}{{ loop.index }}.{{ t }} {% endfor %}", xs=["a", "b"]) == "1.a 2.b "


@pytest.mark.parametrize("source", [["a", "b"], True, 3, None, {"k": "v"}], ids=repr)
def test_non_string_sources_are_returned_unchanged(source: Any) -> None:
    assert r(source) is source


def test_text_without_braces_is_returned_as_is() -> None:
    assert r("plain text") == "plain text"
    assert r("a {single} brace") == "a {single} brace"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["{{ missing }}", "About {{ missing }}."])
def test_undefined_name_names_the_field_and_the_name(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        r(source, inputs={})
    err = info.value
    assert isinstance(err, PodiumError)
    assert WHERE in err.message
    assert "'missing'" in err.message
    assert "undefined" in err.message
    assert err.fix


@pytest.mark.parametrize("source", ["{{ steps.research.output }}", "x {{ steps.research.output }}"])
def test_step_that_has_not_run_names_the_step(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        r(source, steps={"facts": {"output": 1}})
    assert WHERE in info.value.message
    assert "research" in info.value.message


def test_missing_attribute_of_a_value_is_an_error_not_empty_text() -> None:
    with pytest.raises(TemplateError, match="output"):
        r("{{ steps.a.output }}", steps={"a": {}})
    with pytest.raises(TemplateError, match="output"):
        r("got {{ steps.a.output }}", steps={"a": {}})


def test_syntax_error() -> None:
    with pytest.raises(TemplateError) as info:
        r("About {{ inputs.topic ")
    assert WHERE in info.value.message
    assert "syntax error" in info.value.message


def test_error_inside_the_expression_names_the_field() -> None:
    with pytest.raises(TemplateError) as info:
        r("{{ 1 / 0 }}")
    assert WHERE in info.value.message
    assert "ZeroDivisionError" in info.value.message


def test_check_syntax() -> None:
    assert check_syntax("{{ a }} and {% if b %}c{% endif %}") is None
    assert "syntax error" in check_syntax("{{ a }")
    assert "syntax error" in check_syntax("{% if %}")


# --- the sandbox ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "text {{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ x.__class__.__name__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ f.__globals__ }}",
    ],
)
def test_sandbox_refuses_dunder_access(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        r(source, x=1, f=truthy)
    assert WHERE in info.value.message
    assert "not allowed" in info.value.message
    assert "unsafe" in info.value.message


def test_sandbox_refuses_mutating_context_values() -> None:
    data = {"items": [1], "map": {"a": 1}}
    with pytest.raises(TemplateError, match="unsafe"):
        r("{{ d['items'].append(2) }}", d=data)
    with pytest.raises(TemplateError, match="unsafe"):
        r("x {{ d['map'].update({'a': 2}) }}", d=data)
    assert data == {"items": [1], "map": {"a": 1}}


def test_sandbox_refuses_huge_ranges() -> None:
    with pytest.raises(TemplateError, match="range"):
        r("{{ range(10 ** 9) | list | length }}")


# --- references -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ steps.x.output }}", [Reference("steps", "x")]),
        ("{{ steps['x'].output }}", [Reference("steps", "x")]),
        ('Use {{ steps["x"].output.title }}', [Reference("steps", "x")]),
        ("{{ inputs.y }}", [Reference("inputs", "y")]),
        ("{{ inputs['y'] }}", [Reference("inputs", "y")]),
        ("{{ steps }}", [Reference("steps", None)]),
        ("{{ item }}", [Reference("item", None)]),
        ("{{ steps[name] }}", [Reference("steps", None), Reference("name", None)]),
    ],
)
def test_references(source: str, expected: list[Reference]) -> None:
    assert list(references(source)) == expected


def test_references_in_text_and_statements() -> None:
    source = (
        "A {{ steps.a }} {{ inputs['b'] }}"
        " {% if steps.c.ok %}{{ item }}{% endif %}"
        " {% for t in steps.plan.output %}{{ t }}{% endfor %}"
    )
    assert set(references(source)) == {
        Reference("steps", "a"),
        Reference("inputs", "b"),
        Reference("steps", "c"),
        Reference("item", None),
        Reference("steps", "plan"),
    }


def test_names_the_template_assigns_are_not_references() -> None:
    assert list(references("{% set z = 1 %}{{ z }}")) == []
    assert list(references("{% for t in xs %}{{ t.name }}{% endfor %}")) == [Reference("xs", None)]


# --- truthy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "false",
        "False",
        " FALSE ",
        "no",
        "0",
        "none",
        "None",
        "null",
        0,
        0.0,
        None,
        False,
        [],
        {},
    ],
    ids=repr,
)
def test_falsy(value: Any) -> None:
    assert truthy(value) is False


@pytest.mark.parametrize(
    "value", ["true", "yes", "1", "x", "0.0", "nope", 1, -1, True, [0], {"a": None}], ids=repr
)
def test_truthy(value: Any) -> None:
    assert truthy(value) is True


def test_rendered_when_decides_with_truthy() -> None:
    assert truthy(r("{{ inputs.topic != '' }}", inputs={"topic": ""})) is False
    assert truthy(r("{{ inputs.flag }}", inputs={"flag": "false"})) is False
    assert truthy(r("{{ steps.a.output.ok }}", steps={"a": {"output": {"ok": True}}})) is True


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ('reply as {"ok": true}', 'reply as {"ok": true}'),  # braces, no markup: the text itself
        ("a { b } }{\n", "a { b } }{\n"),
        ('{"a": 1}\r\nnext', '{"a": 1}\nnext'),  # as jinja renders it: CR LF made LF
        ("{# note #}{ x }", "{ x }"),
    ],
)
def test_text_without_markup_renders_as_jinja_would(text: str, rendered: str) -> None:
    assert render(text, {}, where="steps.s.prompt") == rendered


@pytest.mark.parametrize("key", ["items", "keys", "values", "get", "copy"])
def test_a_key_named_like_a_dict_method_is_the_key(key: str) -> None:
    # `inputs.items` in a foreach, or `steps.plan.output.items` of an agent's JSON reply
    context = {"inputs": {key: ["a", "b"]}}
    assert render(f"{{{{ inputs.{key} }}}}", context, where="steps.s.foreach") == ["a", "b"]
    assert render(f"{{{{ inputs.{key} | length }}}}", context, where="steps.s.prompt") == 2
