"""What the Vertex emulator remembers: its Agent Engines and their sessions (thread-safe)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ADK_METHODS = (
    {"name": "create_session", "api_mode": ""},
    {"name": "get_session", "api_mode": ""},
    {"name": "list_sessions", "api_mode": ""},
    {"name": "delete_session", "api_mode": ""},
    {"name": "stream_query", "api_mode": "stream"},
    {"name": "async_stream_query", "api_mode": "async_stream"},
)
QUERY_METHODS = ({"name": "query", "api_mode": ""}, {"name": "stream_query", "api_mode": "stream"})


@dataclass
class EngineRecord:
    """One Agent Engine: an ADK agent (sessions, stream_query) or a query agent (query → output)."""

    name: str
    display_name: str
    kind: str  # "adk" or "query"
    podium_agent: str | None = None
    reports_usage: bool = True
    model: str = "gemini-2.5-flash"
    instructions: str | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()))

    def resource(self) -> dict[str, Any]:
        """The engine as ``reasoningEngines.get`` returns it; ``spec.classMethods`` lists its methods."""
        methods = ADK_METHODS if self.kind == "adk" else QUERY_METHODS
        return {
            "name": self.name,
            "displayName": self.display_name,
            "createTime": self.created,
            "updateTime": self.created,
            "spec": {
                "agentFramework": "google-adk" if self.kind == "adk" else "langchain",
                "classMethods": [{**m, "parameters": {"type": "object", "properties": {}}} for m in methods],
            },
        }


@dataclass
class Session:
    """An ADK session: its user, its state (podium's tags ride here) and its events."""

    id: str
    app_name: str
    user_id: str
    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    updated: float = field(default_factory=time.time)

    def as_json(self, *, events: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "app_name": self.app_name,
            "user_id": self.user_id,
            "state": self.state,
            "events": self.events if events else [],
            "last_update_time": self.updated,
        }


class VertexState:
    """The emulator's Agent Engines, by full resource name, and their sessions, by id."""

    def __init__(self, project: str, location: str) -> None:
        self.project = project
        self.location = location
        self.engines: dict[str, EngineRecord] = {}
        self.sessions: dict[str, Session] = {}
        self._ids = itertools.count(1_000_000_001)
        self._lock = threading.Lock()

    def add_engine(
        self, display_name: str, *, kind: str = "adk", name: str | None = None, **options: Any
    ) -> EngineRecord:
        with self._lock:
            if name is None:
                name = f"projects/{self.project}/locations/{self.location}/reasoningEngines/{next(self._ids)}"
            record = EngineRecord(name=name, display_name=display_name, kind=kind, **options)
            self.engines[name] = record
            return record

    def engine(self, name: str) -> EngineRecord | None:
        with self._lock:
            return self.engines.get(name)

    def create_session(self, engine: EngineRecord, user_id: str, state: dict[str, Any]) -> Session:
        with self._lock:
            session = Session(str(uuid.uuid4().int)[:19], engine.name, user_id, dict(state))
            self.sessions[session.id] = session
            return session

    def user_sessions(self, engine: EngineRecord, user_id: str) -> list[Session]:
        with self._lock:
            return [s for s in self.sessions.values() if s.app_name == engine.name and s.user_id == user_id]

    def session(self, engine: EngineRecord, user_id: str, session_id: str) -> Session | None:
        with self._lock:
            found = self.sessions.get(session_id)
        if found is None or found.app_name != engine.name or found.user_id != user_id:
            return None
        return found

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self.sessions.pop(session_id, None)

    def record(self, session: Session, *events: dict[str, Any]) -> None:
        with self._lock:
            session.events.extend(events)
            session.updated = time.time()
