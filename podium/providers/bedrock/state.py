"""What one Bedrock emulator remembers: the control plane's agents (moto) and the runtime's sessions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podium.providers._kit.emulator import clip

if TYPE_CHECKING:
    from podium.providers.bedrock.control import AgentsBackend

ACCOUNT_ID = "123456789012"  # moto's default account, which dummy credentials map to


@dataclass(frozen=True, slots=True)
class ResolvedAgent:
    """What InvokeAgent runs for an (agent id, alias id): the version's model and instruction."""

    agent_id: str
    alias_id: str
    version: str
    name: str
    instruction: str | None
    foundation_model: str | None
    podium_agent: str | None  # the workflow agent it was deployed for (its podium:agent tag)
    prepared: bool
    # the functions its enabled action groups declare: name -> (action group, whether it returns
    # control); None when it has no action group at all (an agent made by `add_agent`)
    functions: dict[str, tuple[str, bool]] | None = None


@dataclass(slots=True)
class Session:
    """One InvokeAgent session: the turns it has seen, so tests can check continuity."""

    session_id: str
    agent_id: str
    alias_id: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    # the control returned to the caller and not yet answered: invocationId, actionGroup,
    # function and the input it came from
    pending: dict[str, Any] | None = None


class MotoMissing(RuntimeError):
    """The control plane needs moto, which is not installed."""


class BedrockState:
    """The agents (in a moto backend of this emulator's own) and the sessions; thread-safe."""

    def __init__(self, region: str, account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        self.lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self._backend: AgentsBackend | None = None

    @property
    def backend(self) -> AgentsBackend:
        """This emulator's bedrock-agent backend (moto), created on first use."""
        with self.lock:
            if self._backend is None:
                try:
                    from podium.providers.bedrock.control import AgentsBackend
                except ImportError as exc:
                    raise MotoMissing(
                        "the Bedrock emulator's control plane needs moto: pip install 'moto>=5'"
                    ) from exc
                self._backend = AgentsBackend(self.region, self.account_id)
            return self._backend

    def control_plane(
        self, operation: str, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        from podium.providers.bedrock.control import dispatch

        with self.lock:
            return dispatch(self.backend, operation, method, url, headers, body)

    def resolve(self, agent_id: str, alias_id: str) -> ResolvedAgent | None:
        """The agent an InvokeAgent names, or None when the id or alias is unknown."""
        try:
            backend = self.backend
        except MotoMissing:
            return None
        from moto.bedrockagent.exceptions import ResourceNotFoundException

        with self.lock:
            try:
                agent, alias, version = backend.resolve(agent_id, alias_id)
            except ResourceNotFoundException:
                return None
            tags = backend.tagger.get_tag_dict_for_resource(agent.agent_arn)
            groups = version.action_groups if version else backend.action_groups.get(agent.agent_id, {})
            functions = {
                str(fn.get("name")): (group.name, group.returns_control)
                for group in groups.values()
                if group.state == "ENABLED"
                for fn in group.functions or []
            }
            return ResolvedAgent(
                agent_id=agent.agent_id,
                alias_id=alias.alias_id,
                version=alias.version,
                name=agent.agent_name,
                instruction=version.instruction if version else agent.instruction,
                foundation_model=version.foundation_model if version else agent.foundation_model,
                podium_agent=tags.get("podium:agent"),
                prepared=version is not None or agent.agent_status == "PREPARED",
                functions=functions if groups else None,
            )

    def add_agent(
        self,
        name: str,
        *,
        model: str = "anthropic.claude-3-5-haiku-20241022-v1:0",
        instruction: str = "You are a helpful agent created directly in the podium emulator.",
        podium_agent: str | None = None,
    ) -> tuple[str, str]:
        """Create, prepare and alias an agent as a deploy would; returns (agent id, alias id)."""
        with self.lock:
            backend = self.backend
            tags = {"podium:agent": podium_agent} if podium_agent else None
            agent = backend.create_agent(
                agent_name=name,
                agent_resource_role_arn=f"arn:aws:iam::{self.account_id}:role/podium-emulator",
                client_token=None,
                instruction=instruction,
                foundation_model=model,
                description=None,
                idle_session_ttl_in_seconds=None,
                customer_encryption_key_arn=None,
                tags=tags,
                prompt_override_configuration=None,
            )
            backend.prepare_agent(agent.agent_id)
            alias = backend.create_agent_alias(agent.agent_id, "podium", None, None)
            return agent.agent_id, alias.alias_id

    def record_turn(self, session_id: str, agent_id: str, alias_id: str, turn: dict[str, Any]) -> Session:
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                session = self.sessions[session_id] = Session(session_id, agent_id, alias_id)
            session.turns.append(clip(turn))  # a log for tests: texts cut, so memory stays flat
            return session

    def return_control(self, session_id: str, agent_id: str, alias_id: str, pending: dict[str, Any]) -> None:
        """Remember the control a reply returned, for the follow-up call carrying its results."""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                session = self.sessions[session_id] = Session(session_id, agent_id, alias_id)
            session.pending = pending

    def take_control(self, session_id: str) -> dict[str, Any] | None:
        """The control returned and not yet answered in a session, forgotten as it is taken."""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                return None
            pending, session.pending = session.pending, None
            return pending
