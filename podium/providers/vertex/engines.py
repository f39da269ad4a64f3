"""A deployed agent through Vertex AI Agent Engine: an ADK agent's session and stream, or a query agent.

**ADK agents** (``method: stream_query``, the default): podium keeps one Agent Engine session per
podium session (``run-step[-item]``, the same across attempts and resumes). The session's
``user_id`` is podium's session id, so a resumed run — even after a crash between creating the
session and recording it — finds its session again with ``list_sessions`` instead of starting a
new conversation; a new one is made with ``create_session``, podium's run, step and agent in its
state. ``stream_query(message, user_id, session_id)`` streams the agent's events; the reply is the
last model event's text, and usage is the sum of the events' ``usage_metadata``.

**Query agents** (``method: query``, LangChain-style templates): ``query(input=…, config={metadata})``
returns the agent's output; no session, and no usage — the call's usage is *unknown*, and says so
(``native["usage_unknown"]``), rather than reading as zero tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import InvalidRequest, TransientError
from podium.providers.vertex.binding import Engine
from podium.providers.vertex.errors import PROVIDER, TABLE
from podium.providers.vertex.gemini import usage_of
from podium.providers.vertex.tags import podium_tags


def check_methods(engine: Any, request: AgentRequest, target: Engine) -> None:
    """The engine has the methods its binding's `method` calls; else an InvalidRequest naming what it has."""
    needed = ("query",) if target.method == "query" else ("stream_query", "list_sessions", "create_session")
    missing = [name for name in needed if not callable(getattr(engine, name, None))]
    if missing:
        schemas = engine.operation_schemas() if callable(getattr(engine, "operation_schemas", None)) else []
        has = sorted(str(s.get("name")) for s in schemas or [] if isinstance(s, Mapping))
        other = "query" if target.method == "stream_query" else "stream_query"
        raise InvalidRequest(
            f"vertex Agent Engine {target.name} (agent '{request.agent}') has no {', '.join(missing)}"
            f" (it has: {', '.join(has) or 'no methods'})",
            fix=f"set agents.{request.agent}.vertex.method to {other}, or bind an engine that is an ADK agent"
            " (AdkApp) for stream_query, or one with a query method for query",
            provider=PROVIDER,
        )


def _session_for(engine: Any, request: AgentRequest, user_id: str) -> tuple[str, bool]:
    """The engine's session for this podium session: found again by its user, else created; (id, new)."""
    listed = engine.list_sessions(user_id=user_id)
    sessions = listed.get("sessions") if isinstance(listed, Mapping) else None
    for session in sessions or []:
        if isinstance(session, Mapping) and session.get("id"):
            return str(session["id"]), False
    made = engine.create_session(user_id=user_id, state=podium_tags(request))
    if not isinstance(made, Mapping) or not made.get("id"):
        raise TransientError(
            f"vertex Agent Engine create_session sent no session id ({made!r:.200})", provider=PROVIDER
        )
    return str(made["id"]), True


def _event_error(event: Mapping[str, Any], where: str) -> None:
    error = event.get("error")
    if isinstance(error, Mapping):
        raise TABLE.classify(
            f"{where}: {error.get('status')}: {error.get('message')}",
            status=int(error.get("code") or 0),
            code=str(error.get("status") or ""),
        )


def _text(event: Mapping[str, Any]) -> str | None:
    content = event.get("content")
    if not isinstance(content, Mapping) or content.get("role") == "user" or event.get("author") == "user":
        return None
    parts = [p for p in content.get("parts") or [] if isinstance(p, Mapping)]
    texts = [str(p["text"]) for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    return "".join(texts) if texts else None


def stream_query(engine: Any, request: AgentRequest, target: Engine) -> AgentResponse:
    """One step on an ADK agent (blocking: run it in the provider's threads)."""
    where = f"vertex Agent Engine {target.name} stream_query (agent '{request.agent}')"
    started = time.perf_counter()
    user_id = request.session_id
    session_id, created = _session_for(engine, request, user_id)
    # the session remembers the conversation: a repair retry sends only its newest message
    message = request.messages[-1].content
    text: str | None = None
    usage = Usage()
    reported = False
    events: list[Any] = []
    for event in engine.stream_query(message=message, user_id=user_id, session_id=session_id):
        if not isinstance(event, Mapping):
            raise TransientError(
                f"{where}: the agent sent a malformed event ({str(event)[:120]!r})", provider=PROVIDER
            )
        _event_error(event, where)
        events.append(dict(event))
        said = _text(event)
        text = said if said is not None else text
        used = usage_of(event.get("usage_metadata") or event.get("usageMetadata"))
        if used is not None:
            usage = Usage(
                input_tokens=usage.input_tokens + used.input_tokens,
                output_tokens=usage.output_tokens + used.output_tokens,
                cache_read_tokens=usage.cache_read_tokens + used.cache_read_tokens,
            )
            reported = True
    if text is None:
        raise TransientError(f"{where}: the stream ended without a reply from the agent", provider=PROVIDER)
    native: dict[str, Any] = {
        "engine": target.name,
        "method": "stream_query",
        "user_id": user_id,
        "session_id": session_id,
        "session_created": created,
        "events": events,
    }
    if not reported:
        native["usage_unknown"] = True
    return AgentResponse(
        text=text,
        usage=usage,
        model=target.model,
        latency_ms=(time.perf_counter() - started) * 1000,
        response_id=str(events[-1].get("invocation_id") or "") or None,
        session_id=session_id,
        native=native,
    )


def query(engine: Any, request: AgentRequest, target: Engine) -> AgentResponse:
    """One step on a query agent: ``query(input=…)``; its output's text, usage unknown."""
    started = time.perf_counter()
    tags = podium_tags(request)
    output = engine.query(
        input=request.messages[-1].content, config={"metadata": tags, "run_name": f"podium {request.step}"}
    )
    value = output.get("output", output) if isinstance(output, Mapping) else output
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    native: dict[str, Any] = {
        "engine": target.name,
        "method": "query",
        "output": output,
        "usage_unknown": True,
    }
    return AgentResponse(
        text=text,
        usage=Usage(),
        model=target.model,
        latency_ms=(time.perf_counter() - started) * 1000,
        native=native,
    )
