"""Bedrock replies as plain JSON for the trace, and the tags podium puts on its calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest

_METADATA_VALUE = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.-]")


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A parsed botocore structure as plain JSON values (timestamps as ISO text, bytes dropped)."""
    kind = type(value)
    # the usual types first, by identity: InvokeAgent's traces are a few hundred values per call, and
    # an isinstance against the Mapping ABC costs several times a type lookup
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: jsonable(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items() if not isinstance(v, bytes | bytearray)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _tag(value: str) -> str:
    return _METADATA_VALUE.sub("_", value)[:256]


def podium_tags(request: AgentRequest) -> dict[str, str]:
    """Run, step and agent, as InvokeAgent session attributes and Converse request metadata take them.

    The emulator's scripted brain answers by them; in AWS they show in logs and invocation records.
    """
    return {
        "podium:run": _tag(request.run_id),
        "podium:step": _tag(request.step),
        "podium:agent": _tag(request.agent),
    }
