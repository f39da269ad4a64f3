"""A local Azure AI Foundry project on 127.0.0.1, over HTTPS, that azure-ai-projects and openai talk to.

    from podium.providers.azure.emulator import AzureEmulator

    with AzureEmulator() as emu:                          # an echo brain, any free port
        emu.add_agent("helper", model="gpt-4o")
        emu.faults.throttle(times=2)                      # the next two calls get a 429
        project = AIProjectClient(emu.project_endpoint, emu.credential(),
                                  connection_verify=emu.ca_file)
        ...

It serves the project's REST API for Foundry agents (``agents.create_version``, ``get``,
``get_version``, ``list_versions``, ``delete``, ``delete_version``) and its OpenAI API
(``conversations`` and their items, ``responses`` with an ``agent_reference`` or a model
deployment, streamed or not); every other operation of those SDK surfaces answers 501 naming
itself (`surface`; docs/emulators.md). It speaks HTTPS with a throwaway CA
(azure-core sends a bearer token only over TLS): clients trust `ca_file`. The brain is the
workflow's ``mock:`` replies (`ScriptedBrain`), an echo, or any python callable; faults are
injected per call through `faults`; the request log is `requests`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from podium.providers._kit.brains import Answer, Brain, Turn
from podium.providers.azure.responses import TAG_AGENT
from podium.providers.azure.routes import AzureRoutes
from podium.providers.azure.state import AgentVersion, AzureState, Conversation

TOKEN = "podium-emulator-token"  # never a real token: the emulator checks only that one is sent


class AzureEmulator(AzureRoutes):
    """One Foundry project: agents, model deployments (any name, unless `deployments` says), conversations."""

    def __init__(
        self,
        brain: Brain | Callable[[Turn], str | Answer] | None = None,
        *,
        project: str = "podium",
        deployments: set[str] | None = None,
        port: int = 0,
    ) -> None:
        self.project = project
        self.deployments = deployments
        self.state = AzureState()
        super().__init__(brain, port=port)

    @property
    def project_endpoint(self) -> str:
        """The project endpoint, as ``https://<resource>.services.ai.azure.com/api/projects/<project>``."""
        return f"{self.endpoint_url}/api/projects/{self.project}"

    def settings(self) -> dict[str, Any]:
        """`providers.azure` settings pointing podium at this emulator (a dummy token, its CA)."""
        return {"endpoint": self.project_endpoint, "token": TOKEN, "ca_file": self.ca_file}

    def environment(self) -> dict[str, str]:
        """Environment variables pointing the Azure and OpenAI SDKs (and podium) at this emulator.

        ``SSL_CERT_FILE`` makes httpx (openai) trust the emulator's CA *instead of* the system's;
        azure-core (requests) needs ``REQUESTS_CA_BUNDLE`` or ``connection_verify=``.
        """
        assert self.ca_file is not None
        return {
            "AZURE_AI_PROJECT_ENDPOINT": self.project_endpoint,
            "REQUESTS_CA_BUNDLE": self.ca_file,
            "SSL_CERT_FILE": self.ca_file,
        }

    def client_hint(self) -> str | None:
        return (
            "AIProjectClient(endpoint=os.environ['AZURE_AI_PROJECT_ENDPOINT'], credential=...)  with any"
            f" TokenCredential (the emulator checks only that a token is sent), e.g."
            f" podium.providers.azure.client.StaticToken({TOKEN!r})"
        )

    def credential(self) -> Any:
        """A TokenCredential with the emulator's dummy token, for AIProjectClient."""
        from podium.providers.azure.client import StaticToken

        return StaticToken(TOKEN)

    # --- agents and conversations -------------------------------------------------------------

    def add_agent(
        self,
        name: str,
        *,
        model: str = "gpt-4o",
        instructions: str = "You are a helpful agent created directly in the podium emulator.",
        podium_agent: str | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> AgentVersion:
        """Create a version of a prompt agent (as a deploy would); returns it.

        `podium_agent` names the workflow agent whose mock replies answer it when the caller does
        not say (podium's own calls say which step and agent they are for).
        """
        definition: dict[str, Any] = {"kind": "prompt", "model": model, "instructions": instructions}
        if tools:
            definition["tools"] = tools
        metadata = {TAG_AGENT: podium_agent} if podium_agent else {}
        return self.state.add_version(name, definition, metadata=metadata)

    @property
    def conversations(self) -> Mapping[str, Conversation]:
        return self.state.conversations


@contextmanager
def emulate(
    mock: Mapping[str, Any] | None = None, *, project: str = "podium", port: int = 0
) -> Iterator[AzureEmulator]:
    """A running emulator whose brain is `mock` (a workflow's ``mock:`` section), else an echo."""
    with AzureEmulator.for_mock(mock, project=project, port=port) as emulator:
        yield emulator
