"""What crosses between the workflow and its activities, as plain JSON: a run's reference (its
configured workflow), a call's request, its reply or its error, and a batch of events."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse
from podium.core.errors import ProviderError, StepError
from podium.core.events import Event, EventType, _jsonable
from podium.core.spec import Workflow

WORKFLOW_NAME = "PodiumRun"
APPEND_EVENTS = "podium.append_events"
CALL_AGENT = "podium.call_agent"
SIGNAL_DECIDE = "decide"
SIGNAL_CANCEL_BY = "cancel_by"


def workflow_ref(wf: Workflow) -> dict[str, Any]:
    """A configured workflow as the run's start carries it: its data, where it lives, its hash.

    The data is the workflow after profiles, `--set`, model classes and emulators were laid over
    it, so every worker runs exactly what the submitter checked (it sits in Temporal's history).
    """
    data = wf.model_dump(mode="json", by_alias=True, exclude_unset=True)
    text = json.dumps(data, sort_keys=True, default=_jsonable)
    return {
        "data": data,
        "key": hashlib.sha256(text.encode()).hexdigest()[:24],
        "path": str(wf.path) if wf.path else None,
        "file_hash": wf.file_hash,
    }


def workflow_of(ref: Mapping[str, Any]) -> Workflow:
    """The Workflow a `workflow_ref` carries (its file path and hash restored)."""
    wf = Workflow.model_validate(ref["data"])
    wf._path = Path(ref["path"]) if ref.get("path") else None
    wf._file_hash = ref.get("file_hash")
    return wf


@functools.lru_cache(maxsize=1)
def provider_registry() -> Any:
    """The installed providers, looked up once per process (the workflow code plans with their
    classes and settings models; the same installation on every worker gives the same plan)."""
    from podium.plugins.manager import Plugins

    return Plugins.of(None).providers


def encode_request(request: AgentRequest) -> dict[str, Any]:
    data = request.model_dump(mode="json", exclude={"tool_log", "context"})
    context = dict(request.context)
    if "steps" in context:  # a python agent's upstream outputs: a mapping view, sent as a dict
        context["steps"] = dict(context["steps"])
    data["context"] = json.loads(json.dumps(context, default=_jsonable))
    return data


def decode_request(data: Mapping[str, Any]) -> AgentRequest:
    return AgentRequest.model_validate(data)


def encode_response(response: AgentResponse) -> dict[str, Any]:
    return json.loads(json.dumps(response.model_dump(mode="json"), default=_jsonable))


def decode_response(data: Mapping[str, Any]) -> AgentResponse:
    return AgentResponse.model_validate(data)


def encode_error(exc: StepError) -> dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "kind": exc.kind,
        "retryable": exc.retryable,
        "message": exc.message,
        "fix": exc.fix,
        "retry_after": exc.retry_after,
        "provider": exc.provider,
        "traceback": exc.traceback,
    }


def _error_classes() -> dict[str, type[StepError]]:
    found: dict[str, type[StepError]] = {}
    todo: list[type[StepError]] = [StepError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def decode_error(data: Mapping[str, Any]) -> StepError:
    """The StepError an activity reported, as the same class (so retry and fallback read it as a
    local call's), keeping its kind and whether it may be retried."""
    cls = _error_classes().get(str(data.get("class")), ProviderError)
    if cls.__init__ is not StepError.__init__ and not issubclass(cls, ProviderError):
        cls = ProviderError  # one whose constructor takes more (ToolApprovalNeeded): not sent here
    exc = cls(
        str(data.get("message", "")),
        fix=data.get("fix"),
        retry_after=data.get("retry_after"),
        provider=data.get("provider"),
    )
    exc.kind = str(data.get("kind") or cls.kind)
    exc.retryable = bool(data.get("retryable"))
    exc.traceback = data.get("traceback")
    return exc


def encode_events(batch: list[tuple[Event, str]]) -> list[list[Any]]:
    return [[e.seq, str(e.type), e.step, e.attempt, text, e.at.isoformat()] for e, text in batch]


def decode_events(run_id: str, rows: list[list[Any]]) -> list[tuple[Event, str]]:
    out = []
    for seq, type_, step, attempt, text, at in rows:
        data, when = json.loads(text), datetime.fromisoformat(at)
        event = Event(run_id, seq, EventType(type_), step, attempt, data, when)
        out.append((event, text))
    return out
