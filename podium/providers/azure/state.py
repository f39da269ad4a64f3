"""What the Azure emulator remembers: Foundry agents and their versions, conversations and their items."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from podium.providers._kit.emulator import new_id as random_uuid


def new_id(prefix: str) -> str:
    """An id in the service's style: ``conv_…``, ``resp_…``, ``msg_…``, ``call_…``."""
    return f"{prefix}_{random_uuid().hex[:24]}"


@dataclass
class AgentVersion:
    name: str
    version: str
    definition: dict[str, Any]
    description: str | None
    metadata: dict[str, str]
    created_at: int

    def wire(self) -> dict[str, Any]:
        """As AgentVersionDetails."""
        return {
            "object": "agent.version",
            "id": f"{self.name}:{self.version}",
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "created_at": self.created_at,
            "metadata": self.metadata,
            "definition": self.definition,
            "status": "active",
        }


@dataclass
class Conversation:
    id: str
    created_at: int
    metadata: dict[str, str]
    items: list[dict[str, Any]] = field(default_factory=list)
    busy: bool = False  # a response is running on it

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": self.metadata,
        }


class AzureState:
    """The emulated project's agents (each a list of versions) and conversations (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.agents: dict[str, list[AgentVersion]] = {}
        self.conversations: dict[str, Conversation] = {}
        self.responses: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, list[dict[str, Any]]] = {}  # a response's input items, by response id

    def now(self) -> int:
        return int(time.time())

    def add_version(
        self,
        name: str,
        definition: dict[str, Any],
        *,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> AgentVersion:
        with self.lock:
            versions = self.agents.setdefault(name, [])
            number = max((int(v.version) for v in versions), default=0) + 1  # a deleted one is not reused
            made = AgentVersion(name, str(number), definition, description, dict(metadata or {}), self.now())
            versions.append(made)
            return made

    def version(self, name: str, version: str | None) -> AgentVersion | None:
        """An agent's version (the latest when `version` is None); None when there is no such."""
        with self.lock:
            versions = self.agents.get(name) or []
            if version is None:
                return versions[-1] if versions else None
            return next((v for v in versions if v.version == version), None)

    def new_conversation(self, metadata: dict[str, str], items: list[dict[str, Any]]) -> Conversation:
        with self.lock:
            made = Conversation(new_id("conv"), self.now(), dict(metadata), list(items))
            self.conversations[made.id] = made
            return made
