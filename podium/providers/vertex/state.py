"""What the Vertex emulator remembers: its Agent Engines and their sessions (thread-safe)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from podium.providers._kit.emulator import new_id

ADK_METHODS = (
    {"name": "create_session", "api_mode": ""},
    {"name": "get_session", "api_mode": ""},
    {"name": "list_sessions", "api_mode": ""},
    {"name": "delete_session", "api_mode": ""},
    {"name": "stream_query", "api_mode": "stream"},
    {"name": "async_stream_query", "api_mode": "async_stream"},
)
QUERY_METHODS = ({"name": "query", "api_mode": ""}, {"name": "stream_query", "api_mode": "stream"})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


@dataclass
class EngineRecord:
    """One Agent Engine: an ADK agent (sessions, stream_query) or a query agent (query → output)."""

    name: str
    display_name: str
    kind: str  # "adk", "query", or "any" (both: an engine made up for a workflow's --emulate)
    podium_agent: str | None = None
    reports_usage: bool = True
    model: str = "gemini-2.5-flash"
    instructions: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: _now())
    updated: str | None = None

    def resource(self) -> dict[str, Any]:
        """The engine as ``reasoningEngines.get`` returns it; ``spec.classMethods`` lists its methods."""
        methods = {"adk": ADK_METHODS, "query": QUERY_METHODS}.get(self.kind, ADK_METHODS + QUERY_METHODS[:1])
        resource: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "createTime": self.created,
            "updateTime": self.updated or self.created,
            "spec": {
                **self.spec,
                "agentFramework": "langchain" if self.kind == "query" else "google-adk",
                "classMethods": [{**m, "parameters": {"type": "object", "properties": {}}} for m in methods],
            },
        }
        if self.description:
            resource["description"] = self.description
        if self.labels:
            resource["labels"] = self.labels
        return resource


@dataclass
class Session:
    """An ADK session: its user, its state (podium's tags ride here) and its events."""

    id: str
    app_name: str
    user_id: str
    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    updated: float = field(default_factory=time.time)
    created: float = field(default_factory=time.time)

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
        # engines deleted: never made again on first use (a deleted engine is NOT_FOUND, as on Vertex)
        self.deleted: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1_000_000_001)
        self._lock = threading.Lock()

    def add_engine(
        self, display_name: str, *, kind: str = "adk", name: str | None = None, **options: Any
    ) -> EngineRecord:
        with self._lock:
            if name is None:
                name = f"projects/{self.project}/locations/{self.location}/reasoningEngines/{next(self.ids)}"
            record = EngineRecord(name=name, display_name=display_name, kind=kind, **options)
            self.engines[name] = record
            self.deleted.discard(name)
            return record

    def update_engine(self, engine: EngineRecord, body: dict[str, Any], fields: list[str]) -> EngineRecord:
        """Apply the fields an update mask names (display_name, description, labels, spec…)."""
        with self._lock:
            for path in fields:
                top = path.strip().split(".")[0]
                if top in ("display_name", "displayName") and body.get("displayName"):
                    engine.display_name = str(body["displayName"])
                elif top == "description":
                    engine.description = body.get("description")
                elif top == "labels":
                    engine.labels = dict(body.get("labels") or {})
                elif top == "spec":
                    engine.spec = {**engine.spec, **(body.get("spec") or {})}
            engine.updated = _now()
            return engine

    def operation(self, engine: EngineRecord, verb: str) -> dict[str, Any]:
        """A finished long-running operation for `verb` on `engine` (the emulator builds at once)."""
        with self._lock:
            name = f"{engine.name}/operations/{next(self.ids)}"
            done = {
                "name": name,
                "metadata": {
                    "@type": f"type.googleapis.com/google.cloud.aiplatform.v1beta1.{verb.capitalize()}"
                    "ReasoningEngineOperationMetadata",
                    "genericMetadata": {"createTime": _now(), "updateTime": _now()},
                },
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1beta1.ReasoningEngine",
                    **engine.resource(),
                },
            }
            self.operations[name] = done
            return done

    def delete_engine(self, name: str) -> dict[str, Any] | None:
        """Forget `name` and its sessions; the finished delete operation (None: no such engine)."""
        with self._lock:
            if self.engines.pop(name, None) is None:
                return None
            self.deleted.add(name)
            for session_id in [k for k, s in self.sessions.items() if s.app_name == name]:
                del self.sessions[session_id]
            operation = f"{name}/operations/{next(self.ids)}"
            done = {
                "name": operation,
                "metadata": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1beta1.DeleteOperationMetadata",
                    "genericMetadata": {"createTime": _now(), "updateTime": _now()},
                },
                "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
            }
            self.operations[operation] = done
            return done

    def engine(self, name: str) -> EngineRecord | None:
        with self._lock:
            return self.engines.get(name)

    def create_session(
        self, engine: EngineRecord, user_id: str, state: dict[str, Any], *, session_id: str | None = None
    ) -> Session:
        with self._lock:
            session = Session(session_id or str(new_id().int)[:19], engine.name, user_id, dict(state))
            self.sessions[session.id] = session
            return session

    def remember_operation(self, parent: str, make: Any) -> dict[str, Any]:
        """Keep the finished operation `make(name)` builds under `parent` (for GetOperation); it."""
        with self._lock:
            done: dict[str, Any] = make(f"{parent}/operations/{next(self.ids)}")
            self.operations[done["name"]] = done
            return done

    def update_session(self, session: Session, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(session, key, value)
            session.updated = time.time()

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
