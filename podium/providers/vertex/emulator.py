"""A local Vertex AI on 127.0.0.1 that google-genai and vertexai talk to, unmodified but for the base URL.

    from podium.providers.vertex.emulator import VertexEmulator

    with VertexEmulator() as emu:                         # an echo brain, any free port
        engine = emu.add_engine("helper")                 # an ADK agent: sessions, stream_query
        emu.faults.throttle(times=2)                      # the next two calls get a 429
        client = genai.Client(vertexai=True, **emu.client_kwargs())
        ...
        assert emu.count("GenerateContent") == 3

It serves Gemini ``generateContent`` (usageMetadata with cached and thinking tokens, function
calls), ``streamGenerateContent`` and ``countTokens``, and Agent Engine: engines (create, get, list,
update, delete), ``:query`` / ``:streamQuery`` (an ADK agent's sessions and events, or a query
agent's output) and the Sessions API on the same sessions. Every other operation the SDKs can call
on these services answers 501 UNIMPLEMENTED naming itself (`surface`; docs/emulators.md). The
brain is the workflow's ``mock:`` replies (`ScriptedBrain`), an echo, or any python callable;
faults are injected per call through `faults`; the request log is `requests`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from podium.providers._kit.brains import Answer, Brain, Turn
from podium.providers.vertex.routes import VertexRoutes
from podium.providers.vertex.state import Session, VertexState

DUMMY_TOKEN = "podium-emulator-token"  # never real credentials: the emulator checks only that one is sent


class VertexEmulator(VertexRoutes):
    """Gemini on Vertex and Agent Engine, on one port."""

    def __init__(
        self,
        brain: Brain | Callable[[Turn], str | Answer] | None = None,
        *,
        project: str = "podium-emulator",
        location: str = "us-central1",
        port: int = 0,
        any_engine: bool = False,
        thoughts_tokens: int = 0,
    ) -> None:
        self.project = project
        self.location = location
        self.state = VertexState(project, location)
        self.any_engine = any_engine
        self.thoughts_tokens = thoughts_tokens
        self._adc: Path | None = None
        super().__init__(brain, port=port)

    @classmethod
    def for_workflow(
        cls, mock: Mapping[str, Any] | None = None, *, port: int = 0, **options: Any
    ) -> VertexEmulator:
        """An emulator for `podium run --emulate`: the workflow's mock replies, and any engine it binds."""
        return cls.for_mock(mock, port=port, any_engine=True, **options)

    def settings(self) -> dict[str, Any]:
        """`providers.vertex` settings pointing podium at this emulator (a dummy token only)."""
        return {
            "endpoint_url": self.endpoint_url,
            "project": self.project,
            "location": self.location,
            "access_token": DUMMY_TOKEN,
        }

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``genai.Client(vertexai=True, **kw)`` or ``vertexai.Client(**kw)``."""
        from google.oauth2.credentials import Credentials

        return {
            "project": self.project,
            "location": self.location,
            "credentials": Credentials(token=DUMMY_TOKEN),
            "http_options": {"base_url": self.endpoint_url, "retry_options": {"attempts": 1}},
        }

    def environment(self) -> dict[str, str]:
        """Environment variables pointing google-genai at this emulator, credentials included: a bare
        ``genai.Client()`` works with these alone."""
        return {
            "GOOGLE_VERTEX_BASE_URL": self.endpoint_url,
            "GOOGLE_GENAI_USE_VERTEXAI": "true",
            "GOOGLE_CLOUD_PROJECT": self.project,
            "GOOGLE_CLOUD_LOCATION": self.location,
            "GOOGLE_APPLICATION_CREDENTIALS": str(self._credentials_file()),
        }

    def client_hint(self) -> str | None:
        # google-genai reads GOOGLE_VERTEX_BASE_URL only when told vertexai=True in code, and with a
        # base URL but no project and location given in code it drops them from the request's path
        return (
            f"genai.Client(vertexai=True, project={self.project!r}, location={self.location!r})"
            "  (the credentials come from GOOGLE_APPLICATION_CREDENTIALS)"
        )

    def _credentials_file(self) -> Path:
        """Application Default Credentials holding the dummy token, valid until 2999: google-auth
        reads the token and its expiry from the file and never refreshes it (a refresh would go to
        Google, whatever the file says). Removed when the emulator stops."""
        if self._adc is None:
            folder = Path(tempfile.mkdtemp(prefix="podium-vertex-"))  # mode 0700
            self._adc = folder / "credentials.json"
            self._adc.write_text(
                json.dumps(
                    {
                        "type": "authorized_user",
                        "client_id": "podium-emulator",
                        "client_secret": "podium-emulator",
                        "refresh_token": "podium-emulator",
                        "token": DUMMY_TOKEN,
                        "expiry": "2999-12-31T00:00:00Z",
                    }
                ),
                encoding="utf-8",
            )
        return self._adc

    def stop(self) -> None:
        super().stop()
        if self._adc is not None:
            shutil.rmtree(self._adc.parent, ignore_errors=True)
            self._adc = None

    # --- engines and sessions -----------------------------------------------------------------

    def add_engine(
        self,
        display_name: str,
        *,
        kind: str = "adk",
        podium_agent: str | None = None,
        reports_usage: bool = True,
        model: str = "gemini-2.5-flash",
        instructions: str | None = None,
    ) -> str:
        """Create an Agent Engine (``kind`` adk: sessions and stream_query; query: query → output); its name.

        `podium_agent` names the workflow agent whose mock replies answer it when the caller does
        not say (podium's own calls say which step and agent they are for). With `reports_usage`
        False, its events carry no usage_metadata, as many custom agents' do not.
        """
        record = self.state.add_engine(
            display_name,
            kind=kind,
            podium_agent=podium_agent,
            reports_usage=reports_usage,
            model=model,
            instructions=instructions,
        )
        return record.name

    @property
    def sessions(self) -> Mapping[str, Session]:
        return self.state.sessions


@contextmanager
def emulate(
    mock: Mapping[str, Any] | None = None, *, port: int = 0, **options: Any
) -> Iterator[VertexEmulator]:
    """A running emulator whose brain is `mock` (a workflow's ``mock:`` section), else an echo."""
    with VertexEmulator.for_mock(mock, port=port, **options) as emulator:
        yield emulator
