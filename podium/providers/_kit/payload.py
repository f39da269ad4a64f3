"""A JSON request body from a user's template: checked when the workflow loads, rendered per call.

A binding may say what body a call sends (AgentCore's ``payload:``): either a mapping, whose
strings are templates rendered one by one (the body is then JSON by construction), or one string
template that must render to a JSON document. Templates run in podium's Jinja sandbox, with the
call's names (`call_context`). `check` finds what can be found before a run: a syntax error, and a
string that does not render to JSON even with stand-in values (a prompt with a quote and a line
break in it, the usual way a hand-written ``"{{ prompt }}"`` breaks); `render` finds the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentRequest
from podium.core.errors import InvalidRequest

JSON_FIX = (
    "write the payload as a mapping (payload: {prompt: '{{ prompt }}'}), or as a string that renders"
    " to JSON, quoting values with the tojson filter: '{\"prompt\": {{ prompt | tojson }}}'"
)

# stand-ins for a load-time check: a prompt with the characters that break hand-quoted JSON
_PROBE: dict[str, Any] = {
    "prompt": 'a "quoted" word\nand a second line',
    "messages": [{"role": "user", "content": 'a "quoted" word'}],
    "run_id": "20260101-000000-abcdef",
    "step": "step",
    "agent": "agent",
    "session_id": "20260101-000000-abcdef-step",
    "item": None,
    "index": None,
    "inputs": {},
    "instructions": None,
}


def names() -> list[str]:
    """The names a payload template may use."""
    return sorted(_PROBE)


def call_context(request: AgentRequest) -> dict[str, Any]:
    """What a payload template sees: the step's latest message as `prompt`, the conversation,
    the run's inputs, and the call's run, step, agent, item and session ids."""
    context = request.context or {}
    return {
        "prompt": request.messages[-1].content if request.messages else "",
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "run_id": request.run_id,
        "step": request.step,
        "agent": request.agent,
        "session_id": request.session_id,
        "item": context.get("item"),
        "index": request.item,
        "inputs": context.get("inputs") or {},
        "instructions": request.instructions,
    }


def check(template: str | Mapping[str, Any] | list[Any]) -> str | None:
    """Why `template` can never make a JSON body (a syntax error, or a string that renders to no
    JSON with stand-in values), else None. A template that needs real values is checked at call."""
    from podium.core import templates
    from podium.core.errors import TemplateError

    for text in _strings(template):
        if (error := templates.check_syntax(text)) is not None:
            return error
    if not isinstance(template, str):
        return None
    try:
        rendered = templates.render(template, _PROBE, where="payload")
    except TemplateError:
        return None  # it reads something only a run has (an input's field): checked at call
    if not isinstance(rendered, str):
        return None  # a lone {{ expr }} yields a value, sent as JSON
    try:
        json.loads(rendered)
    except ValueError as exc:
        return (
            "it does not render to JSON when the prompt holds a quote or a line break"
            f" ({exc.msg} at character {exc.pos} of {shown(rendered)})"
        )
    return None


def render(template: Any, request: AgentRequest, *, where: str) -> bytes:
    """The request body `template` makes for `request`, as UTF-8 JSON; an InvalidRequest naming
    `where` when it fails to render or renders to no JSON."""
    from podium.core.errors import TemplateError

    context = call_context(request)
    try:
        value = _render(template, context, where)
    except TemplateError as exc:
        raise InvalidRequest(exc.message, fix=exc.fix or JSON_FIX) from None
    if isinstance(template, str) and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidRequest(
                f"{where} does not render to JSON ({exc.msg} at character {exc.pos} of {shown(value)})",
                fix=JSON_FIX,
            ) from None
    return json.dumps(value, ensure_ascii=False, default=str).encode()


def render_text(template: str, request: AgentRequest, *, where: str) -> str:
    """A one-line value (a header's) rendered from `template` for `request`; an InvalidRequest
    naming `where` when it fails."""
    from podium.core import templates
    from podium.core.errors import TemplateError

    try:
        value = templates.render(template, call_context(request), where=where)
    except TemplateError as exc:
        raise InvalidRequest(exc.message, fix=exc.fix) from None
    return " ".join(str(value if value is not None else "").split())


def _render(template: Any, context: Mapping[str, Any], where: str) -> Any:
    from podium.core import templates

    if isinstance(template, str):
        return templates.render(template, context, where=where)
    if isinstance(template, Mapping):
        return {str(k): _render(v, context, f"{where}.{k}") for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, context, f"{where}.{i}") for i, v in enumerate(template)]
    return template


def _strings(template: Any) -> list[str]:
    if isinstance(template, str):
        return [template]
    if isinstance(template, Mapping):
        return [s for v in template.values() for s in _strings(v)]
    if isinstance(template, list):
        return [s for v in template for s in _strings(v)]
    return []


def shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
