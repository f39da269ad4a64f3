"""A python tool's signature as a JSON Schema of its parameters, for clouds that declare function tools.

Responses (Azure, OpenAI) and Gemini want a function tool's parameters as JSON Schema; podium's
tools are plain python functions (``tools: {name: module:function}``), so the schema is read from
the signature and type hints, and the description from the docstring's first paragraph.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               list: "array", tuple: "array", dict: "object"}  # fmt: skip


def _json_type(annotation: Any) -> dict[str, Any]:
    """A JSON Schema for one parameter's annotation; unknown or missing annotations allow anything."""
    if isinstance(annotation, str):  # postponed annotations: only the plain names are understood
        annotation = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}.get(
            annotation.split("[")[0].strip(), inspect.Parameter.empty
        )
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(options[0]) if len(options) == 1 else {}
    kind = _JSON_TYPES.get(origin or annotation)
    if kind == "array":
        args = typing.get_args(annotation)
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    return {"type": kind} if kind else {}


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """A JSON Schema (an object) of `fn`'s keyword parameters, from its signature and annotations.

    For clouds that declare a tool's parameters to the model (Gemini's functionDeclarations, an
    OpenAI-style ``tools`` list): parameters without a default are required; ``*args`` and
    ``**kwargs`` are left out (``additionalProperties`` is then allowed).
    """
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError):
        return {"type": "object"}
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for name, parameter in signature.parameters.items():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            open_ended = True
            continue
        properties[name] = _json_type(hints.get(name, parameter.annotation))
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not open_ended:
        schema["additionalProperties"] = False
    return schema


def description(fn: Callable[..., Any], fallback: str | None = None) -> str | None:
    """The first paragraph of `fn`'s docstring on one line (a tool's description for the model),
    else `fallback`."""
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n", 1)[0].split()) or fallback
