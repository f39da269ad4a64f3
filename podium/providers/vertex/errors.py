"""Google's errors as podium's: Vertex's status codes, google-genai's APIError, httpx, google-auth."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from podium.core.errors import AuthError, CallTimeout, InvalidRequest, StepError, TransientError
from podium.providers._kit.errors import ErrorTable, retry_after, retry_after_from

PROVIDER = "vertex"

CREDENTIALS_FIX = (
    "configure Google credentials: run `gcloud auth application-default login`, or set"
    " GOOGLE_APPLICATION_CREDENTIALS to a service account key file; the identity needs the Vertex AI"
    " User role (aiplatform.endpoints.predict, aiplatform.reasoningEngines.query). To run without"
    " Google Cloud, use --emulate"
)
PROJECT_FIX = (
    "set providers.vertex.project (or GOOGLE_CLOUD_PROJECT) to your Google Cloud project id;"
    " to run without Google Cloud, use --emulate"
)

# google.rpc.Code names, as Vertex sends them in error.status
TABLE = ErrorTable.of(
    PROVIDER,
    throttled={"RESOURCE_EXHAUSTED"},
    transient={"UNAVAILABLE", "INTERNAL", "UNKNOWN", "ABORTED", "DATA_LOSS"},
    timeout={"DEADLINE_EXCEEDED", "CANCELLED"},
    auth={"UNAUTHENTICATED", "PERMISSION_DENIED"},
    timeout_statuses=(408, 504),
    auth_fix=CREDENTIALS_FIX,
)

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)s\s*$")


def retry_delay(details: Iterable[Any]) -> float | None:
    """The ``google.rpc.RetryInfo`` delay ("2s", "0.5s") among an error's details, in seconds."""
    for detail in details:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            found = _DURATION.match(str(detail.get("retryDelay") or ""))
            if found:
                return retry_after(float(found.group(1)))
    return None


def from_api_error(exc: Any, where: str) -> StepError:
    """A google-genai ``APIError`` (ClientError 4xx, ServerError 5xx) as a podium error."""
    body = exc.details if isinstance(exc.details, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else body
    status = str(exc.status or error.get("status") or "")
    message = str(exc.message or error.get("message") or exc)
    code = int(exc.code or 0)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    wait = retry_delay(error.get("details") or []) if isinstance(error, Mapping) else None
    if wait is None:
        wait = retry_after_from(dict(headers))
    return TABLE.classify(
        f"{where}: {code} {status or ''}: {message}".replace("  ", " "),
        status=code,
        code=status,
        retry_after=wait,
    )


def to_podium(exc: BaseException, where: str) -> StepError:
    """Any exception from google-genai, vertexai, httpx or google-auth during a call, as a podium error.

    A cut or broken reply and connection failures are transient; a read timeout is a timeout;
    missing or unusable credentials say how to configure them; a reply that is not what the
    service sends (not JSON) is transient, as a proxy's error page would be.
    """
    if isinstance(exc, StepError):
        return exc
    import httpx
    from google.auth import exceptions as auth_errors
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        return from_api_error(exc, where)
    malformed = getattr(genai_errors, "UnknownApiResponseError", json.JSONDecodeError)
    if isinstance(exc, malformed | json.JSONDecodeError | UnicodeDecodeError):
        return TransientError(f"{where}: Vertex sent a malformed reply ({exc})", provider=PROVIDER)
    if isinstance(exc, auth_errors.DefaultCredentialsError):
        return AuthError(
            f"{where}: no Google credentials were found ({exc})", fix=CREDENTIALS_FIX, provider=PROVIDER
        )
    if isinstance(exc, auth_errors.RefreshError):
        return AuthError(
            f"{where}: the Google credentials could not be refreshed ({exc})",
            fix=CREDENTIALS_FIX,
            provider=PROVIDER,
        )
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return CallTimeout(
            f"{where}: no reply within the read timeout ({exc or type(exc).__name__})",
            fix="raise providers.vertex.read_timeout if the agent is slow",
            provider=PROVIDER,
        )
    if isinstance(exc, httpx.TransportError | ConnectionError | auth_errors.TransportError):
        return TransientError(
            f"{where}: the connection to Vertex failed ({type(exc).__name__}: {exc})", provider=PROVIDER
        )
    if isinstance(exc, ValueError) and "project" in str(exc).lower():
        return InvalidRequest(f"{where}: {exc}", fix=PROJECT_FIX, provider=PROVIDER)
    raise exc
