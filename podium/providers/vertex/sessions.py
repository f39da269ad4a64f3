"""Agent Engine's Sessions API on the emulator's sessions: resources and events as the REST API shows them.

The same sessions the engine's class methods (``create_session``, ``stream_query``, …) keep, seen
through ``…/reasoningEngines/ID/sessions`` (vertexai's ``agent_engines.sessions``, ADK's
``VertexAiSessionService``): a session is ``{name, userId, sessionState, createTime, updateTime}``,
an event ``{name, author, invocationId, timestamp, content, actions}`` (camelCase, RFC 3339 times).
Events are kept as ADK's (snake_case, epoch seconds), so a session is one conversation whichever
API wrote to it; an appended event's ``actions.stateDelta`` updates the session's state.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from podium.providers._kit.emulator import new_id
from podium.providers.vertex.state import Session
from podium.providers.vertex.wire import camel

USER_FILTER = re.compile(r"""\b(?:user_id|userId)\s*=\s*["']([^"']*)["']""")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch(value: Any) -> float:
    """An RFC 3339 timestamp (or epoch seconds) as epoch seconds; now when it is neither."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def session_resource(session: Session) -> dict[str, Any]:
    name = f"{session.app_name}/sessions/{session.id}"
    return {
        "name": name,
        "createTime": rfc3339(session.created),
        "updateTime": rfc3339(session.updated),
        "userId": session.user_id,
        "sessionState": session.state,
    }


def event_resource(session: Session, event: dict[str, Any]) -> dict[str, Any]:
    """An ADK event as the Sessions API lists it."""
    resource: dict[str, Any] = {
        "name": f"{session.app_name}/sessions/{session.id}/events/{event.get('id')}",
        "author": event.get("author"),
        "invocationId": event.get("invocation_id"),
        "timestamp": rfc3339(float(event.get("timestamp") or 0)),
    }
    if event.get("content") is not None:
        resource["content"] = event["content"]
    if isinstance(event.get("actions"), dict):
        resource["actions"] = camel(event["actions"])
    return resource


def _snake(value: Any) -> Any:
    if isinstance(value, list):
        return [_snake(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", str(k)).lower(): _snake(v) for k, v in value.items()}


def appended_event(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A SessionEvent from AppendEvent's body as the ADK event kept, or why it is refused."""
    body = camel(body)
    for field in ("author", "invocationId", "timestamp"):
        if not body.get(field):
            return None, f"SessionEvent.{field} is required."
    actions = body.get("actions") if isinstance(body.get("actions"), dict) else {}
    state_delta = actions.get("stateDelta") if isinstance(actions.get("stateDelta"), dict) else {}
    event: dict[str, Any] = {
        "id": str(new_id()),
        "author": str(body["author"]),
        "invocation_id": str(body["invocationId"]),
        "timestamp": epoch(body["timestamp"]),
        # the state delta's keys are the agent's own: kept as sent
        "actions": {
            **_snake({k: v for k, v in actions.items() if k != "stateDelta"}),
            "state_delta": state_delta,
        },
    }
    if body.get("content") is not None:
        event["content"] = body["content"]
    return event, None


def operation(name: str, verb: str, response: dict[str, Any] | None) -> dict[str, Any]:
    """A finished long-running operation on a session (create: the session; delete: empty)."""
    now = rfc3339(time.time())
    kind = "Session" if response is not None else "protobuf.Empty"
    return {
        "name": name,
        "metadata": {
            "@type": f"type.googleapis.com/google.cloud.aiplatform.v1beta1.{verb}SessionOperationMetadata",
            "genericMetadata": {"createTime": now, "updateTime": now},
        },
        "done": True,
        "response": {
            "@type": f"type.googleapis.com/google.{'cloud.aiplatform.v1beta1.' if response else ''}{kind}",
            **(response or {}),
        },
    }
