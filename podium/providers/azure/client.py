"""The Azure SDKs for one provider: the credential, the AIProjectClient and its OpenAI client.

Both SDKs' own retries are off (azure-core ``retry_total=0``, openai ``max_retries=0``): podium's
retry policy is the one that retries, so each attempt is visible in the run's events and a
fallback happens when podium's policy says. A ``ca_file`` (an emulator's throwaway CA) is trusted
for this endpoint only, by both SDKs; without it the system's trust store applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
import time
from typing import Any

from podium.core.errors import InvalidRequest
from podium.providers.azure.config import AzureConfig
from podium.providers.azure.errors import ENDPOINT_FIX, PROVIDER

SCOPE = "https://ai.azure.com/.default"
ENDPOINT_VARIABLE = "AZURE_AI_PROJECT_ENDPOINT"


def sdk() -> Any:
    """azure.ai.projects, imported on first use; without it, an ImportError naming the extra."""
    try:
        import azure.ai.projects as projects
        import openai  # noqa: F401  (get_openai_client needs it)
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the azure provider needs azure-ai-projects, azure-identity and openai:"
            " pip install 'podium[azure]'"
        ) from None
    return projects


_PROJECT_ENDPOINT = re.compile(r"^https?://[^/]+/api/projects/[^/]+$")


class StaticToken:
    """A TokenCredential with one fixed token: for emulators and tests only (providers.azure.token)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        pass


class AzureClients:
    """The credential, project client and OpenAI client of one provider instance, made once each."""

    def __init__(self, config: AzureConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._credential: Any = None
        self._project: Any = None
        self._openai: Any = None

    @property
    def endpoint(self) -> str | None:
        """The project endpoint: the setting, else AZURE_AI_PROJECT_ENDPOINT."""
        value = self.config.endpoint or os.environ.get(ENDPOINT_VARIABLE)
        if not value:
            return None
        value = value.rstrip("/")
        if not _PROJECT_ENDPOINT.search(value):
            source = "providers.azure.endpoint" if self.config.endpoint else ENDPOINT_VARIABLE
            raise InvalidRequest(
                f"{source} is {value!r}, which is not a Foundry project endpoint (it ends in"
                " /api/projects/<project>)",
                fix=ENDPOINT_FIX,
                provider=PROVIDER,
            )
        return value

    def _credential_locked(self) -> Any:
        if self._credential is None:
            if self.config.token:
                self._credential = StaticToken(self.config.token)
            else:
                try:
                    from azure.identity import DefaultAzureCredential
                except ImportError:  # pragma: no cover - exercised only without the extra
                    raise ImportError(
                        "the azure provider needs azure-identity: pip install 'podium[azure]'"
                    ) from None
                self._credential = DefaultAzureCredential()
        return self._credential

    def project(self) -> Any:
        """The AIProjectClient for the endpoint (agents, deploy)."""
        with self._lock:
            if self._project is None:
                endpoint = self.endpoint
                if not endpoint:
                    raise InvalidRequest(
                        "no Foundry project endpoint is configured for provider azure",
                        fix=ENDPOINT_FIX,
                        provider=PROVIDER,
                    )
                cfg = self.config
                extra: dict[str, Any] = {}
                if cfg.ca_file:
                    extra["connection_verify"] = cfg.ca_file
                self._project = sdk().AIProjectClient(
                    endpoint,
                    self._credential_locked(),
                    api_version=cfg.api_version,
                    retry_total=0,
                    connection_timeout=cfg.connect_timeout,
                    read_timeout=cfg.read_timeout,
                    user_agent="podium",
                    **extra,
                )
            return self._project

    def openai(self) -> Any:
        """The project's OpenAI client (``{endpoint}/openai/v1``): conversations and responses."""
        project = self.project()
        with self._lock:
            if self._openai is None:
                import httpx2
                from openai import DefaultHttpxClient

                cfg = self.config
                verify: ssl.SSLContext | bool = True
                if cfg.ca_file:
                    verify = ssl.create_default_context(cafile=cfg.ca_file)
                http = DefaultHttpxClient(
                    verify=verify,
                    timeout=httpx2.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
                    limits=httpx2.Limits(
                        max_connections=cfg.max_connections, max_keepalive_connections=cfg.max_connections
                    ),
                )
                self._openai = project.get_openai_client(
                    http_client=http,
                    max_retries=0,
                    timeout=httpx2.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
                )
            return self._openai

    def close(self) -> None:
        with self._lock:
            closing = [self._openai, self._project, self._credential]
            self._openai = self._project = self._credential = None
        for client in closing:
            close = getattr(client, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
