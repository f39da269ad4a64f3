"""Azure's wire format for the emulator: request bodies read and checked, replies and errors made.

What the routes (`routes`) need to speak the project's OpenAI API and REST API: Responses
``input`` items and ``metadata`` checked as the service checks them (a `Problem` is the service's
400 or 404), a Response object built from what the brain answered, list pages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from podium.core.calls import Message
from podium.providers._kit.brains import Answer, as_call, forced_input
from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers.azure.state import new_id


class Problem(Exception):
    """A request the service rejects, with its status and error code."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def json_reply(status: int, body: Any) -> HttpResponse:
    headers = {"Content-Type": "application/json", "x-ms-request-id": new_id("req")}
    return HttpResponse(status, headers, json.dumps(body).encode())


def request_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise Problem(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Problem(400, "invalid_request_error", "The request body must be a JSON object.")
    return body


def text_of(content: Any) -> str:
    """A message's content (text, or a list of text parts) as text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise Problem(400, "invalid_type", "A message's content must be a string or a list of parts.", "input")


def items_of(value: Any) -> list[dict[str, Any]]:
    """Responses ``input`` (text, or a list of items) as a list of items, each checked."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise Problem(400, "invalid_type", "input must be a string or an array of items.", "input")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise Problem(400, "invalid_type", f"input[{index}] must be an object.", f"input[{index}]")
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise Problem(
                    400, "invalid_value", f"input[{index}].role is not valid.", f"input[{index}].role"
                )
            items.append({**item, "type": "message", "content": text_of(item.get("content"))})
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise Problem(400, "missing_required_parameter", f"input[{index}].call_id is required.")
            if not isinstance(item["call_id"], str):
                raise Problem(
                    400, "invalid_type", f"Invalid type for 'input[{index}].call_id': expected a string."
                )
            items.append(item)
        elif kind in ("function_call", "reasoning"):
            items.append(item)
        else:
            raise Problem(400, "invalid_value", f"input[{index}].type '{kind}' is not supported.")
    return items


def unanswered(items: list[dict[str, Any]], start: int) -> None:
    """Refuse, as the service does, a function_call_output (from ``items[start:]``, the new ones)
    that answers no function_call before it."""
    calls: set[str] = set()
    for index, item in enumerate(items):
        if item.get("type") == "function_call":
            calls.add(str(item.get("call_id")))
        elif (
            item.get("type") == "function_call_output"
            and index >= start
            and str(item["call_id"]) not in calls
        ):
            raise Problem(
                400,
                "invalid_request_error",
                f"No tool call found for function call output with call_id {item['call_id']}.",
                "input",
            )


_SAMPLING = {"temperature": (0, 2), "top_p": (0, 1)}


def sampling_problem(body: dict[str, Any]) -> None:
    """Refuse sampling settings out of the service's range (a number, within its bounds)."""
    for name, (low, high) in _SAMPLING.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Problem(400, "invalid_type", f"Invalid type for '{name}': expected a decimal.", name)
        if not low <= value <= high:
            side, bound = ("above maximum", f"<= {high}") if value > high else ("below minimum", f">= {low}")
            raise Problem(
                400,
                "decimal_above_max_value" if value > high else "decimal_below_min_value",
                f"Invalid '{name}': decimal {side} value. Expected a value {bound}, but got {value} instead.",
                name,
            )


def forced(answer: Answer, body: Mapping[str, Any]) -> Answer:
    """The answer as the service shapes it for what the request forces: ``tool_choice`` ``required``
    (the first declared function) or ``{type: function, name}`` makes it a function call, and a
    ``text.format`` of ``json_schema`` or ``json_object`` makes its text JSON."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise Problem(400, "invalid_type", "Invalid type for 'tools': expected an array.", "tools")
    functions = {
        str(t.get("name")): t.get("parameters") or {}
        for t in tools or []
        if isinstance(t, dict) and t.get("type") == "function"
    }
    choice = body.get("tool_choice")
    name = None
    if choice == "required" and functions:
        name = next(iter(functions))
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = str(choice.get("name"))
        if name not in functions:
            raise Problem(
                400,
                "invalid_value",
                f"Tool choice '{name}' not found in 'tools' parameter.",
                "tool_choice",
            )
    if name is not None and (answer.tool is None or answer.tool.name != name):
        if choice == "required" and answer.tool is not None and answer.tool.name in functions:
            return answer
        return as_call(answer, name, functions[name])
    shape = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if (
        answer.tool is None
        and isinstance(shape, dict)
        and shape.get("type") in ("json_schema", "json_object")
    ):
        try:
            json.loads(answer.text)
        except ValueError:
            schema = shape.get("schema") if isinstance(shape.get("schema"), dict) else {}
            # json_object has no schema: the text goes in an object of its own
            made = forced_input(answer.text, schema) if schema else {"text": answer.text}
            return replace(answer, text=json.dumps(made))
    return answer


def stored_item(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as a conversation keeps it: with an id and status, a message's text as a content part."""
    kept = dict(item)
    kind = kept.get("type", "message")
    kept.setdefault("id", new_id("msg" if kind == "message" else "fc" if kind == "function_call" else "item"))
    if kind == "message":
        kept.setdefault("status", "completed")
        if isinstance(kept.get("content"), str):
            part = "output_text" if kept.get("role") == "assistant" else "input_text"
            text = {"type": part, "text": kept["content"]}
            kept["content"] = [{**text, "annotations": []} if part == "output_text" else text]
    return kept


def metadata_of(value: Any, param: str = "metadata") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 16:
        raise Problem(400, "invalid_value", f"{param} must be an object of at most 16 pairs.", param)
    for key, item in value.items():
        if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
            raise Problem(
                400,
                "invalid_value",
                f"{param}: keys of at most 64 and text values of at most 512 characters.",
                param,
            )
    return dict(value)


def response_body(
    answer: Answer,
    model: str | None,
    metadata: dict[str, str],
    conversation: str | None,
    reference: Any,
    instructions: Any,
    created_at: int,
    *,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Response object for what the brain answered: a message, or a function call it asks for.

    The request's settings come back on it as the service echoes them (`request`: the body sent).
    """
    asked = request or {}
    if answer.tool is not None:
        output = [
            {
                "type": "function_call",
                "id": new_id("fc"),
                "call_id": new_id("call"),
                "name": answer.tool.name,
                "arguments": json.dumps(answer.tool.input),
                "status": "completed",
            }
        ]
    else:
        output = [
            {
                "type": "message",
                "id": new_id("msg"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
            }
        ]
    usage = answer.usage
    total_in = usage.input_tokens + usage.cache_read_tokens
    reply: dict[str, Any] = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": created_at,
        "status": "completed",
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": total_in,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total_in + usage.output_tokens,
        },
        "parallel_tool_calls": asked.get("parallel_tool_calls", True),
        "tool_choice": asked.get("tool_choice", "auto"),
        "tools": asked.get("tools") if isinstance(asked.get("tools"), list) else [],
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "metadata": metadata,
        "background": False,
        "completed_at": created_at,
        "max_output_tokens": asked.get("max_output_tokens"),
        "previous_response_id": asked.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": asked.get("store", True),
        "temperature": asked.get("temperature", 1.0),
        "text": asked.get("text") or {"format": {"type": "text"}},
        "top_p": asked.get("top_p", 1.0),
        "truncation": asked.get("truncation", "disabled"),
        "user": asked.get("user"),
    }
    if conversation is not None:
        reply["conversation"] = {"id": conversation}
    if reference is not None:
        reply["agent_reference"] = reference
    return reply


def messages_of(items: list[dict[str, Any]]) -> list[Message]:
    """What was said, in podium's words: user and assistant messages, and tools' results as user turns."""
    said = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in ("user", "assistant"):
            said.append(Message(role=str(item["role"]), content=text_of(item.get("content"))))
        elif kind == "function_call_output":
            said.append(Message(role="user", content=str(item.get("output", ""))))
    return said


def page(data: list[dict[str, Any]], query: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """`data` as a list object; with a list call's `query`, one page of it: `data` is in the order
    asked for, and the page is cut by ``after``, ``before`` and ``limit`` (1 to 100, default 20).

    azure-ai-projects' pagers ask for the next page with ``after=<last_id>`` until a page has no
    ``last_id`` (they do not read ``has_more``), so a page past the end must be empty, or they loop.
    """
    if query is None:  # the items a call made, all of them
        return {"object": "list", "data": data, "first_id": data[0].get("id") if data else None,
                "last_id": data[-1].get("id") if data else None, "has_more": False}  # fmt: skip
    ids = [item.get("id") for item in data]
    after, before = query.get("after", [""])[0], query.get("before", [""])[0]
    if after:
        data = data[ids.index(after) + 1 :] if after in ids else []
    if before:
        ids = [item.get("id") for item in data]
        data = data[: ids.index(before)] if before in ids else []
    raw = query.get("limit", ["20"])[0]
    limit = int(raw) if raw.isdigit() else -1
    if not 1 <= limit <= 100:
        raise Problem(
            400, "invalid_value", f"Invalid 'limit': {raw!r}. Expected an integer from 1 to 100.", "limit"
        )
    # a page before a cursor is the items just before it
    shown = data[-limit:] if before and not after else data[:limit]
    return {
        "object": "list",
        "data": shown,
        "first_id": shown[0].get("id") if shown else None,
        "last_id": shown[-1].get("id") if shown else None,
        "has_more": len(data) > limit,
    }
