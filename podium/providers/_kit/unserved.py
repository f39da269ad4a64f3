"""Operations an emulator knows but does not serve: each routed by its own method and path, answered 501.

A client that calls an operation the emulator lacks must learn exactly that, never another
operation's error (a "not found" from a route whose pattern happened to match) nor a bare 404. A
cloud lists what its SDK can call and it does not serve as `Unserved` entries, with the path as the
SDK's own URI template (google.api.http's ``/v1/{name=projects/*/locations/*}:verb``, or
``/agents/{agent_name}``); `unserved_routes` turns them into `Route`s whose handler answers HTTP
501 in the service's error format (the emulator's ``error_response``), naming the operation:

    def routes(self):
        return [*served, *unserved_routes(UNSERVED, self.unserved_response, prefix=r"/(?:v1|v1beta1)")]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from podium.providers._kit.emulator import Route
from podium.providers._kit.http import HttpRequest, HttpResponse

NOT_IMPLEMENTED = 501


@dataclass(frozen=True, slots=True)
class Unserved:
    """An operation the emulator does not serve: its method, URI template, name, and why or what instead."""

    method: str
    template: str
    operation: str
    note: str = ""


_FIELD = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}")


def _segments(pattern: str) -> str:
    # `*` is one path segment (never a `:verb`), `**` any number of them
    out = []
    for piece in re.split(r"(\*\*|\*)", pattern):
        if piece == "**":
            out.append(r"[^:]+")
        elif piece == "*":
            out.append(r"[^/:]+")
        else:
            out.append(re.escape(piece))
    return "".join(out)


def template_regex(template: str, *, prefix: str = "") -> re.Pattern[str]:
    """A URI template as an anchored regex over a request's path.

    ``{field}`` is one segment, ``{field=projects/*/x/*}`` the pattern given, and a literal ``*``
    one segment; `prefix` (a regex, such as an API version) goes before it.
    """
    out, at = [], 0
    for found in _FIELD.finditer(template):
        out.append(_segments(template[at : found.start()]))
        out.append(_segments(found.group(2)) if found.group(2) else r"[^/:]+")
        at = found.end()
    out.append(_segments(template[at:]))
    return re.compile("^" + prefix + "".join(out) + "$")


def unserved_message(provider: str, operation: str, note: str = "") -> str:
    """What a client reads: the operation, that podium's emulator does not implement it, and what to do."""
    return f"not implemented by podium's {provider} emulator: {operation}" + (f" ({note})" if note else "")


def unserved_routes(
    entries: Iterable[Unserved],
    respond: Callable[[Unserved], HttpResponse],
    *,
    prefix: str = "",
) -> list[Route]:
    """A `Route` per entry, each answering with `respond(entry)` (a 501 in the service's format)."""

    def handler(entry: Unserved) -> Callable[[HttpRequest, re.Match[str], dict[str, Any]], HttpResponse]:
        def serve(request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
            detail["unserved"] = True
            return respond(entry)

        return serve

    return [
        Route(e.method, template_regex(e.template, prefix=prefix), e.operation, handler(e)) for e in entries
    ]
