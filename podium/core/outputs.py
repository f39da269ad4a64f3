"""Step outputs at the handoff: a reply parsed and validated against the step's schema, stored as JSON."""

from __future__ import annotations

import dataclasses
import json
import numbers
import re
from collections.abc import Iterator, Mapping
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from podium.core import templates
from podium.core.calls import AgentResponse
from podium.core.errors import AgentFailed, OutputInvalid
from podium.core.events import _jsonable
from podium.core.graph import Graph

if TYPE_CHECKING:
    from referencing import Registry

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


def as_json_value(value: Any) -> Any:
    """What the store will hold for `value`, so a later step sees the same thing after a resume.

    Dates become ISO text, sets and tuples lists, pydantic models and dataclasses their fields,
    enums their values, decimals numbers. Anything else that is not JSON (a generator, bytes, an
    object of the user's, a dict with tuple keys, a cycle) is AgentFailed: stored as its repr, it
    would pass on as a silently wrong output.
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json_text(value))
    except NotJson as exc:
        raise AgentFailed(f"the reply is not a JSON value: {exc}", fix=NotJson.fix) from None


class NotJson(ValueError):
    """A value with no JSON form; its text says why."""

    fix = "return JSON data: dicts with text keys, lists, text, numbers, booleans or None"


def json_text(value: Any) -> str:
    """`value` as JSON text, converted as `as_json_value` says; NotJson if it has no JSON form."""
    try:
        return json.dumps(value, default=_output_jsonable, ensure_ascii=False)
    except RecursionError:
        raise NotJson("it nests too deep") from None
    except (TypeError, ValueError) as exc:
        raise NotJson(str(exc)) from None


def _output_jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{type(value).__name__} is not JSON (decode it to text)")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, date | time):
        return value.isoformat()
    converted = _jsonable(value)
    if isinstance(converted, str) and converted == (text := repr(value)):  # no JSON form: its repr
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise TypeError(f"{type(value).__name__} is not JSON ({shown})")
    return converted


def _schema_accepts_text(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def parse_output(
    response: AgentResponse, schema: Mapping[str, Any] | None, registry: Registry[Any] | None = None
) -> Any:
    """The step's output from a reply: the text, or (with a schema) the validated JSON value.

    `registry` holds what the schema's `$ref`s name, resolved when the workflow was loaded
    (`Workflow.schema_registry`); any other reference is refused, never fetched.
    """
    if schema is None:
        return as_json_value(response.value)
    if response.output is not None:
        value = as_json_value(response.output)
    else:
        text = response.text or ""
        if (fenced := _FENCE.match(text)) is not None:
            text = fenced.group("body")
        try:
            value = json.loads(text)
        except ValueError:
            if not _schema_accepts_text(schema):
                shown = (response.text or "")[:80]
                raise OutputInvalid(
                    f"the reply is not JSON: {shown!r}",
                    fix="reply with JSON only, matching the step's output schema",
                ) from None
            value = response.text
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from referencing.exceptions import Unresolvable

    from podium.core import schema_patterns
    from podium.core.schemas import refusing_registry

    validator_class = schema_patterns.bounded(validator_for(schema))
    validator = validator_class(schema, registry=refusing_registry() if registry is None else registry)
    try:
        schema_patterns.validate(validator, value)
    except schema_patterns.PatternTooSlow as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise OutputInvalid(
            f"the reply could not be checked against the output schema at {at}: {exc.message}",
            fix="write the schema's pattern without a repetition inside a repetition"
            " (e.g. ^([a-z]+ ?)+$ as ^[a-z ]+$)",
        ) from None
    except Unresolvable as exc:  # a workflow made in code, whose schema was not checked at load
        raise OutputInvalid(
            f"the output schema's $ref {exc.ref!r} was not resolved when the workflow was loaded",
            fix="refer only to #/… in the schema itself, or to a file next to the workflow",
        ) from None
    except ValidationError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise OutputInvalid(
            f"the reply does not match the output schema at {at}: {exc.message}",
            fix="reply with JSON matching the schema",
        ) from None
    return value


def reply_value(response: AgentResponse) -> Any:
    """What a CallFinished event records of a reply: its text, or its value as JSON."""
    return response.text if response.output is None else as_json_value(response.output)


def repair_message(error: OutputInvalid, schema: Mapping[str, Any]) -> str:
    """The message that feeds a rejected reply's validation error back to the agent, once."""
    return (
        f"Your previous reply was rejected: {error.message}.\n"
        "Reply again with only a JSON value that matches this JSON Schema, and nothing else:\n"
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


def render_outputs(
    sources: Mapping[str, str], inputs: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The workflow's `outputs:`, rendered from its inputs and every step's view."""
    context = {"inputs": inputs, "steps": views}
    return {
        name: as_json_value(templates.render(src, context, where=f"outputs.{name}"))
        for name, src in sources.items()
    }


class UpstreamOutputs(Mapping[str, Any]):
    """The outputs of the steps upstream of one step, by id: what a python agent's `steps` reads.

    Lazy, because finding everything upstream is linear in the graph and most functions never
    ask; doing it for every call would make a long chain quadratic.
    """

    def __init__(self, views: Mapping[str, Mapping[str, Any]], graph: Graph, step: str) -> None:
        self._views = views
        self._graph = graph
        self._step = step
        self._ids: frozenset[str] | None = None

    def _upstream(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = self._graph.upstream(self._step)
        return self._ids

    def __getitem__(self, key: str) -> Any:
        if key not in self._upstream():
            raise KeyError(key)
        return self._views[key]["output"]

    def __iter__(self) -> Iterator[str]:
        return (sid for sid in self._graph.needs if sid in self._upstream())

    def __len__(self) -> int:
        return len(self._upstream())

    def __repr__(self) -> str:
        return f"UpstreamOutputs({dict(self)!r})"
