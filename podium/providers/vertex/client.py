"""The Google clients of one provider: credentials, google-genai for Gemini, vertexai for Agent Engines.

Both SDKs' own retries are off (one attempt per call: podium's retry policy, visible in the run's
events and honouring fallback, is the one that retries); their timeout is the provider's
``read_timeout``. The clients are made once, on first use, and shared by the provider's threads.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Any

from podium.core.errors import InvalidRequest
from podium.providers._kit.propagation import add_call_headers
from podium.providers.vertex.config import VertexConfig
from podium.providers.vertex.errors import PROJECT_FIX, PROVIDER

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def genai_module() -> Any:
    """google.genai, imported on first use; without it, an ImportError naming the extra to install."""
    try:
        from google import genai
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("the vertex provider needs google-genai: pip install 'podium[vertex]'") from None
    return genai


def vertexai_module() -> Any:
    """vertexai (google-cloud-aiplatform), imported on first use, with the install hint."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import vertexai
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the vertex provider needs google-cloud-aiplatform: pip install 'podium[vertex]'"
        ) from None
    return vertexai


class VertexClients:
    """Credentials, the google-genai client and the vertexai client of one provider (thread-safe)."""

    def __init__(self, config: VertexConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._project: str | None = None
        self._genai: Any = None
        self._vertexai: Any = None
        self._engines: dict[str, Any] = {}

    def credentials(self) -> tuple[Any, str]:
        """Credentials and project: a dummy token for an emulator, else Application Default Credentials."""
        with self._lock:
            if self._credentials is None:
                if self.config.access_token:
                    from google.oauth2.credentials import Credentials

                    credentials, found = Credentials(token=self.config.access_token), None
                else:
                    import google.auth

                    credentials, found = google.auth.default(scopes=list(SCOPES))
                project = self.config.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or found
                if not project:
                    raise InvalidRequest(
                        "no Google Cloud project is configured for provider vertex",
                        fix=PROJECT_FIX,
                        provider=PROVIDER,
                    )
                self._credentials, self._project = credentials, str(project)
            assert self._project is not None
            return self._credentials, self._project

    @property
    def project(self) -> str:
        return self.credentials()[1]

    def http_options(self) -> Any:
        """The SDKs' HttpOptions: the endpoint, version, timeout, one attempt, a connection pool, and the
        hook that adds the running call's headers (its traceparent) to every request."""
        import httpx
        from google.genai import types

        cfg = self.config
        return types.HttpOptions(
            base_url=cfg.endpoint_url,
            api_version=cfg.api_version,
            timeout=int(cfg.read_timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
            client_args={
                "limits": httpx.Limits(max_connections=cfg.max_connections),
                # one httpx client serves both SDKs and all the provider's threads: the hook reads
                # the call running in the sending thread, so generateContent (each tool round),
                # Agent Engine's sessions, stream_query and query all carry their call's traceparent
                "event_hooks": {"request": [add_call_headers]},
            },
            headers={"x-goog-api-client": "podium"},
        )

    def genai(self) -> Any:
        """A google-genai Client on Vertex AI (``vertexai=True``) for generateContent."""
        credentials, project = self.credentials()
        with self._lock:
            if self._genai is None:
                self._genai = genai_module().Client(
                    vertexai=True,
                    project=project,
                    location=self.config.location,
                    credentials=credentials,
                    http_options=self.http_options(),
                )
            return self._genai

    def vertexai(self) -> Any:
        """A vertexai Client for Agent Engines (``client.agent_engines``)."""
        credentials, project = self.credentials()
        module = vertexai_module()
        with self._lock:
            if self._vertexai is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # "use agentplatform.Client"
                    self._vertexai = module.Client(
                        project=project,
                        location=self.config.location,
                        credentials=credentials,
                        http_options=self.http_options(),
                    )
            return self._vertexai

    def engine(self, name: str) -> Any:
        """The Agent Engine `name` (``agent_engines.get``, once): its query methods registered on it."""
        with self._lock:
            found = self._engines.get(name)
        if found is not None:
            return found
        engine = self.vertexai().agent_engines.get(name=name)
        with self._lock:
            return self._engines.setdefault(name, engine)

    def close(self) -> None:
        with self._lock:
            clients, self._genai, self._vertexai = (self._genai, self._vertexai), None, None
            self._engines.clear()
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    close()
