"""A Response as the Responses API streams it (``stream: true``): server-sent events, one per change.

The order is the service's: ``response.created`` and ``response.in_progress`` (the response with
no output yet), then per output item ``response.output_item.added``, its content (a message's
``content_part.added``, text deltas, ``output_text.done``, ``content_part.done``; a function call's
``function_call_arguments.delta`` and ``.done``) and ``response.output_item.done``, and last
``response.completed`` with the whole response and its usage. Each event carries its
``sequence_number``; the openai client's ``responses.create(stream=True)`` and
``responses.stream()`` read them.
"""

from __future__ import annotations

import json
from typing import Any

PIECES = 3  # deltas a text is sent in (the service sends one per token or so)


def _pieces(text: str) -> list[str]:
    if not text:
        return [""]
    size = max(1, -(-len(text) // PIECES))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    item_id = item.get("id")
    if item.get("type") == "function_call":
        arguments = str(item.get("arguments") or "")
        events: list[dict[str, Any]] = [
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "arguments": "", "status": "in_progress"},
            }
        ]
        where = {"item_id": item_id, "output_index": index}
        events += [
            {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            for piece in _pieces(arguments)
        ]
        events.append(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": index,
                "name": item.get("name"),
                "arguments": arguments,
            }
        )
    else:
        events = [
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "content": [], "status": "in_progress"},
            }
        ]
        for part_index, part in enumerate(item.get("content") or []):
            text = str(part.get("text") or "")
            where = {"item_id": item_id, "output_index": index, "content_index": part_index}
            events.append({"type": "response.content_part.added", **where, "part": {**part, "text": ""}})
            events += [
                {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
                for piece in _pieces(text)
            ]
            events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **where, "part": part})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def response_events(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """The events that stream `reply` (a finished Response object), numbered in order."""
    started = {**reply, "status": "in_progress", "output": [], "usage": None, "completed_at": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(reply.get("output") or []):
        events += _item_events(index, item)
    events.append({"type": "response.completed", "response": reply})
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event: its type as the event name, the event as the data."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def error_event(code: str, message: str, sequence_number: int) -> bytes:
    """The ``error`` event the service sends when a stream fails part-way."""
    return sse(
        {"type": "error", "code": code, "message": message, "param": None, "sequence_number": sequence_number}
    )
