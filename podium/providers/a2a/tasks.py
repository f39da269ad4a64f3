"""An A2A task (or message) as podium's answer: the reply, a data part as the output, usage, or the
error its state means.

Usage is read where agents put it, in this order: the task's metadata, then the last agent
message's, under `usage` with `input_tokens` / `output_tokens` (OpenAI-style `prompt_tokens` /
`completion_tokens`, and `inputTokens` / `outputTokens`, are read too). An agent that reports none
costs "unknown", never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentResponse, Usage
from podium.core.errors import AgentFailed, AuthError, InvalidRequest, StepError

PROVIDER = "a2a"
WORKING = frozenset({"submitted", "working"})
_ALIASES = {
    "input_tokens": ("input_tokens", "inputTokens", "prompt_tokens", "promptTokens"),
    "output_tokens": ("output_tokens", "outputTokens", "completion_tokens", "completionTokens"),
    "cache_read_tokens": ("cache_read_tokens", "cacheReadTokens", "cached_tokens"),
}


def state_of(task: Any) -> str:
    """The task's state in A2A's own words: submitted, working, completed, input-required, …"""
    from a2a.types import TaskState

    return str(TaskState.Name(task.status.state)).removeprefix("TASK_STATE_").lower().replace("_", "-")


def _plain(value: Any) -> Any:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(value, preserving_proto_field_name=True)


def parts_of(parts: Any) -> tuple[list[str], list[Any]]:
    """A message's or artifact's text parts (and URLs), and its data parts as plain values."""
    texts: list[str] = []
    data: list[Any] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            from google.protobuf.json_format import MessageToDict

            data.append(_integral(MessageToDict(part.data)))
        elif kind == "url":
            texts.append(part.url)
    return texts, data


def _integral(value: Any) -> Any:
    """JSON numbers as sent: protobuf's Value holds every number as a double, so 8 comes back 8.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def message_text(message: Any) -> str:
    """A message's text parts, joined."""
    return "\n".join(parts_of(message.parts)[0])


def question_of(task: Any) -> str:
    """What an input-required task asks: its status message's text."""
    return message_text(task.status.message) if task.status.HasField("message") else ""


def usage_of(*metadatas: Any) -> Usage | None:
    """Usage from the first metadata that reports it (see the module's docstring); None if none does."""
    for metadata in metadatas:
        if metadata is None or not metadata.ListFields():
            continue
        plain = _plain(metadata)
        found = plain.get("usage") if isinstance(plain.get("usage"), Mapping) else None
        if found is None:
            continue
        counts: dict[str, int] = {}
        for field, names in _ALIASES.items():
            for name in names:
                if isinstance(found.get(name), int | float):
                    counts[field] = int(found[name])
                    break
        if counts:
            return Usage(**counts)
    return None


def response_of(task: Any, *, model: str | None = None) -> AgentResponse:
    """A completed task as podium's answer: its artifacts' (else its last agent message's) text joined;
    a data part, when there is one, is the step's output (validated against its schema by the engine)."""
    texts: list[str] = []
    data: list[Any] = []
    for artifact in task.artifacts:
        t, d = parts_of(artifact.parts)
        texts += t
        data += d
    last_agent = next((m for m in reversed(task.history) if m.role == 2), None)  # ROLE_AGENT
    status_message = task.status.message if task.status.HasField("message") else None
    if not texts and not data:
        for message in (status_message, last_agent):
            if message is not None:
                t, d = parts_of(message.parts)
                texts, data = t, d
                if t or d:
                    break
    usage = usage_of(task.metadata, status_message.metadata if status_message else None,
                     last_agent.metadata if last_agent else None)  # fmt: skip
    native = {"task_id": task.id, "context_id": task.context_id, "state": state_of(task)}
    return _answer(texts, data, usage, native, model=model, response_id=task.id, context=task.context_id)


def message_response(message: Any, *, model: str | None = None) -> AgentResponse:
    """An agent that answered with a message, not a task (an immediate reply)."""
    texts, data = parts_of(message.parts)
    native = {"message_id": message.message_id, "context_id": message.context_id}
    return _answer(
        texts, data, usage_of(message.metadata), native, model=model,
        response_id=message.message_id, context=message.context_id,
    )  # fmt: skip


def _answer(
    texts: list[str],
    data: list[Any],
    usage: Usage | None,
    native: dict[str, Any],
    *,
    model: str | None,
    response_id: str,
    context: str,
) -> AgentResponse:
    """The text joined (or a data part as the output), and usage: "unknown" when the agent gave none."""
    if usage is None:
        native["usage_unknown"] = True
    return AgentResponse(
        text="\n".join(texts) if texts or not data else None,
        output=data[0] if len(data) == 1 else (data or None),
        usage=usage or Usage(),
        model=model,
        response_id=response_id,
        session_id=context,
        native=native,
    )


def failure_of(task: Any, where: str) -> StepError:
    """The error an ended task's state means: failed, rejected, canceled, auth-required, input-required."""
    state = state_of(task)
    said = message_text(task.status.message) if task.status.HasField("message") else ""
    because = f": {said}" if said else ""
    if state == "auth-required":
        return AuthError(
            f"{where} asks for authentication (auth-required){because}",
            fix="give the binding an auth: section the agent accepts (bearer, sigv4, google or entra)",
            provider=PROVIDER,
        )
    if state == "rejected":
        return InvalidRequest(f"{where} rejected the task{because}", provider=PROVIDER)
    if state == "input-required":
        return AgentFailed(
            f"{where} asks for more input (input-required){because}",
            fix="in a run, podium asks a person (podium approve RUN STEP --comment '…'); called"
            " outside a run, nobody can be asked",
            provider=PROVIDER,
        )
    return AgentFailed(f"{where} ended the task {state}{because}", provider=PROVIDER)
