"""The kit's tool declarations: a function's parameters as JSON Schema, its docstring as description."""

from __future__ import annotations

from typing import Any

from podium.providers._kit.signatures import description, parameters_schema


def add(a: int, b: float, tags: list[str] | None = None, *, exact: bool = False) -> dict[str, Any]:
    """Add two numbers.

    The rest of the docstring is for people.
    """
    return {}


def loose(city, *rest, **more):  # type: ignore[no-untyped-def]
    return city


def test_a_signature_becomes_a_json_schema_of_its_keyword_parameters() -> None:
    assert parameters_schema(add) == {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "exact": {"type": "boolean"},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }


def test_unannotated_and_open_ended_parameters_allow_anything() -> None:
    assert parameters_schema(loose) == {"type": "object", "properties": {"city": {}}, "required": ["city"]}


def test_the_description_is_the_docstrings_first_paragraph() -> None:
    assert description(add, "fallback") == "Add two numbers."
    assert description(loose, "the loose tool") == "the loose tool"
