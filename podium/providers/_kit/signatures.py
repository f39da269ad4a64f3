"""A python tool's signature as a JSON Schema of its parameters, for clouds that declare function tools.

Responses (Azure, OpenAI) and Gemini want a function tool's parameters as JSON Schema; podium's
tools are plain python functions (``tools: {name: module:function}``), so the schema is read from
the signature: each parameter a property (typed when annotated with str, int, float, bool, list
or dict), required when it has no default. The docstring's first paragraph is the description.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _json_type(annotation: Any) -> str | None:
    origin = typing.get_origin(annotation) or annotation
    return _TYPES.get(origin)


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """``{"type": "object", "properties": …, "required": […]}`` for `fn`'s keyword-able parameters."""
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError):
        return {"type": "object", "properties": {}}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            continue
        kind = _json_type(hints.get(name, parameter.annotation))
        properties[name] = {"type": kind} if kind else {}
        if parameter.default is parameter.empty:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def description(fn: Callable[..., Any]) -> str | None:
    """The first paragraph of `fn`'s docstring, on one line; None without one."""
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    return " ".join(doc.split("\n\n", 1)[0].split())
