"""Every operation of the Bedrock services, by method and path, read from botocore's own service models.

The emulator serves ``bedrock-runtime``, ``bedrock-agent-runtime``, ``bedrock-agent`` and
``bedrock`` on one port: no two of their operations share a method and path, but for the tag calls
that mean the same in each. `operation(service, name)` gives a served operation its route (method and
path regex, straight from the model), and `find(method, path)` names the operation any other request
is, so the emulator can answer it with a 501 naming that operation instead of another's error.

Another Bedrock service joins by adding its botocore name to `SERVICES` (or passing it to
`index()`): its operations are then found, and answered 501 until a route serves them.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SERVICES: tuple[str, ...] = (
    "bedrock-runtime",
    "bedrock-agent-runtime",
    "bedrock-agent",
    "bedrock",
    "bedrock-agentcore",
    "bedrock-agentcore-control",
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a service model: where it is sent, and the status it answers with."""

    service: str
    name: str
    method: str
    uri: str  # the model's requestUri, e.g. /model/{modelId}/converse
    path: re.Pattern[str]
    status: int  # the model's responseCode (200 unless it says otherwise)
    errors: tuple[str, ...]  # the error shapes the model lists for it


def path_pattern(uri: str) -> re.Pattern[str]:
    """A requestUri as a regex: ``{name}`` one segment, ``{name+}`` one or more (labels as groups)."""
    path = uri.split("?", 1)[0]
    out, end = [], 0
    for label in re.finditer(r"\{([^}]+)\}", path):
        out.append(re.escape(path[end : label.start()]))
        name = label.group(1)
        greedy = name.endswith("+")
        out.append(f"(?P<{re.sub(r'[^0-9a-zA-Z_]', '_', name.rstrip('+'))}>{'.+' if greedy else '[^/]+'})")
        end = label.end()
    out.append(re.escape(path[end:]))
    return re.compile("^" + "".join(out) + "$")


@functools.cache
def _model(service: str) -> Any:
    return _botocore().get_service_model(service)


@functools.cache
def _service(service: str) -> tuple[Operation, ...]:
    model = _model(service)
    found = []
    for name in model.operation_names:
        op = model.operation_model(name)
        found.append(
            Operation(
                service=service,
                name=name,
                method=op.http["method"],
                uri=op.http["requestUri"],
                path=path_pattern(op.http["requestUri"]),
                status=int(op.http.get("responseCode", 200)),
                errors=tuple(e.name for e in op.error_shapes),
            )
        )
    return tuple(found)


@functools.cache
def _botocore() -> Any:
    import botocore.session  # lazily: loading podium (or its CLI) loads no cloud SDK

    return botocore.session.get_session()


def operations(services: Iterable[str] = SERVICES) -> list[Operation]:
    """Every operation of `services`, in the models' order."""
    return [op for service in services for op in _service(service)]


def operation(service: str, name: str) -> Operation:
    """One operation by its service and name; a KeyError names what is missing (a typo in a route)."""
    for op in _service(service):
        if op.name == name:
            return op
    raise KeyError(f"{service} has no operation {name}")


@functools.cache
def index(services: tuple[str, ...] = SERVICES) -> dict[str, tuple[Operation, ...]]:
    """The operations of `services` by HTTP method, literal paths before templated ones."""
    by_method: dict[str, list[Operation]] = defaultdict(list)
    for op in operations(services):
        by_method[op.method].append(op)
    # a literal path (GET /foundation-models) must win over a template that also matches it
    return {m: tuple(sorted(ops, key=lambda o: o.uri.count("{"))) for m, ops in by_method.items()}


def find(method: str, path: str, services: tuple[str, ...] = SERVICES) -> Operation | None:
    """The operation a request is, by its method and path; None when it is none of theirs."""
    for op in index(services).get(method, ()):
        if op.path.match(path):
            return op
    return None


def error_status(service: str, code: str) -> int | None:
    """The HTTP status the service model gives an error type (ResourceNotFoundException: 404)."""
    model = _model(service)
    try:
        shape = model.shape_for(code)
    except Exception:  # botocore's NoShapeFoundError: a type the model does not list
        return None
    status = shape.metadata.get("error", {}).get("httpStatusCode")
    return int(status) if status else None


def output_shape(service: str, name: str) -> Any:
    """The botocore output shape of an operation (None: it answers nothing), for reading its types."""
    return _model(service).operation_model(name).output_shape
