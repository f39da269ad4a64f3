"""Run inputs: each given value checked (and, from the command line, converted) against its declared type."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from podium.core.errors import InputError
from podium.core.loader.problems import suggest
from podium.core.spec import INPUT_TYPES, Input, Workflow

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def coerce_input(name: str, spec: Input, value: Any) -> Any:
    """Check (and, for text from the command line, convert) one input value against its type."""
    kind = spec.type
    if isinstance(value, str) and kind != "string":
        text = value.strip()
        try:
            if kind == "integer":
                value = int(text)
            elif kind == "number":
                value = float(text) if any(c in text for c in ".eE") else int(text)
            elif kind == "boolean":
                if text.lower() not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = text.lower() in _TRUE
            elif kind in ("object", "array"):
                value = json.loads(text)
        except ValueError:
            raise InputError(
                f"input '{name}' must be {kind}, got {value!r}",
                fix=f"pass -i {name}=<{kind}>" + (" as JSON" if kind in ("object", "array") else ""),
            ) from None
    ok = isinstance(value, INPUT_TYPES[kind]) and not (
        kind in ("integer", "number") and isinstance(value, bool)
    )
    if not ok:
        raise InputError(
            f"input '{name}' must be {kind}, got {type(value).__name__} {value!r}",
            fix=f"give '{name}' {'an' if kind[0] in 'aeiou' else 'a'} {kind} value",
        )
    if spec.enum is not None and value not in spec.enum:
        raise InputError(
            f"input '{name}' must be one of {spec.enum}, got {value!r}",
            fix=f"pick one of: {', '.join(map(str, spec.enum))}",
        )
    return value


def resolve_inputs(wf: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: given values checked and converted, defaults filled in, unknowns refused."""
    unknown = [k for k in given if k not in wf.inputs]
    if unknown:
        key = unknown[0]
        raise InputError(
            f"'{key}' is not an input of workflow '{wf.name}'{suggest(key, wf.inputs)}",
            fix=f"inputs of this workflow: {', '.join(wf.inputs) or 'none'}",
        )
    out: dict[str, Any] = {}
    for name, spec in wf.inputs.items():
        if name in given:
            out[name] = coerce_input(name, spec, given[name])
        elif not spec.required:
            out[name] = spec.default
        else:
            raise InputError(
                f"missing required input '{name}' ({spec.type})",
                fix=f"pass -i {name}=VALUE, or give it a default in the workflow file",
            )
    return out
