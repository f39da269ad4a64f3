"""azure-core's and openai's errors, and Azure's error codes, as podium's: throttled, transient, timeout, …"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from podium.core.errors import AuthError, CallTimeout, InvalidRequest, StepError, TransientError
from podium.providers._kit.errors import ErrorTable, retry_after_from

PROVIDER = "azure"

CREDENTIALS_FIX = (
    "sign in to Azure: `az login` (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET, or"
    " run where a managed identity is available); the identity needs the Azure AI User role on the"
    " Foundry project. To run without Azure, use --emulate"
)
ENDPOINT_FIX = (
    "set providers.azure.endpoint (or AZURE_AI_PROJECT_ENDPOINT) to the project endpoint,"
    " https://<resource>.services.ai.azure.com/api/projects/<project>; to run without Azure, use --emulate"
)

THROTTLED = {"too_many_requests", "rate_limit_exceeded", "TooManyRequests", "RateLimitExceeded", "429"}
TRANSIENT = {
    "server_error",
    "internal_error",
    "InternalServerError",
    "InternalError",
    "service_unavailable",
    "ServiceUnavailable",
    "bad_gateway",
    "model_error",
    "conversation_locked",  # another response is running on the conversation; try again
}
TIMEOUT = {"timeout", "Timeout", "request_timeout", "RequestTimeout", "gateway_timeout"}
AUTH = {
    "unauthorized",
    "Unauthorized",
    "PermissionDenied",
    "permission_denied",
    "AuthenticationFailed",
    "invalid_api_key",
    "invalid_token",
    "expired_token",
    "AuthorizationFailed",
}

TABLE = ErrorTable.of(
    PROVIDER,
    throttled=THROTTLED,
    transient=TRANSIENT,
    timeout=TIMEOUT,
    auth=AUTH,
    timeout_statuses=(408, 504),
    auth_fix=CREDENTIALS_FIX,
)


def _error_body(body: Any) -> tuple[str | None, str | None]:
    """(code, message) of an error body: ``{"error": {"code", "message"}}`` or the inner dict itself."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            code = inner.get("code") or inner.get("type")
            message = inner.get("message")
            return (str(code) if code is not None else None, str(message) if message is not None else None)
    return None, None


def from_openai(exc: Any, where: str) -> StepError:
    """An openai exception (the project's /openai/v1 endpoint) as a podium error."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return CallTimeout(
            f"{where}: no reply within the timeout ({exc})",
            fix="raise providers.azure.read_timeout (or the step's timeout:) if the agent is slow",
            provider=PROVIDER,
        )
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(
            f"{where}: cannot reach Azure or the reply broke off ({exc})", provider=PROVIDER
        )
    if isinstance(exc, openai.APIStatusError):
        code, message = _error_body(exc.body)
        return TABLE.classify(
            f"{where}: {code or exc.status_code}: {message or exc.message}",
            status=exc.status_code,
            code=code,
            retry_after=retry_after_from(exc.response.headers),
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return TransientError(f"{where}: Azure sent a malformed reply ({exc})", provider=PROVIDER)
    return TransientError(f"{where}: {type(exc).__name__}: {exc}", provider=PROVIDER)


def from_azure_core(exc: Any, where: str) -> StepError:
    """An azure-core exception (the project's REST API, or a credential) as a podium error."""
    from azure.core import exceptions as ax

    if isinstance(exc, ax.ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        return AuthError(
            f"{where}: no Azure credential could sign the request ({exc.message})",
            fix=CREDENTIALS_FIX,
            provider=PROVIDER,
        )
    if isinstance(exc, ax.DecodeError):
        return TransientError(f"{where}: Azure sent a malformed reply ({exc.message})", provider=PROVIDER)
    if isinstance(exc, ax.HttpResponseError):
        status = int(exc.status_code or 0)
        code = exc.error.code if exc.error is not None else None
        message = exc.error.message if exc.error is not None else exc.reason
        headers = dict(exc.response.headers) if exc.response is not None else {}
        return TABLE.classify(
            f"{where}: {code or status}: {message}",
            status=status,
            code=code,
            retry_after=retry_after_from(headers),
        )
    if isinstance(exc, ax.ServiceResponseTimeoutError | ax.ServiceRequestTimeoutError):
        return CallTimeout(f"{where}: no reply within the timeout ({exc.message})", provider=PROVIDER)
    if isinstance(exc, ax.ServiceRequestError | ax.ServiceResponseError):
        return TransientError(
            f"{where}: cannot reach Azure or the reply broke off ({exc.message})", provider=PROVIDER
        )
    return TransientError(f"{where}: {type(exc).__name__}: {exc}", provider=PROVIDER)


def to_podium(exc: BaseException, where: str) -> StepError:
    """Any exception from azure-ai-projects, azure-identity, azure-core or openai during a call.

    Connection problems and a broken reply are transient; a read timeout is a timeout; a missing
    credential says how to sign in. Anything else (a bug, an SDK's own error) propagates.
    """
    if isinstance(exc, StepError):
        return exc
    try:
        import openai
    except ImportError:  # pragma: no cover - openai comes with the extra
        openai = None  # type: ignore[assignment]
    if openai is not None and isinstance(exc, openai.OpenAIError):
        return from_openai(exc, where)
    from azure.core.exceptions import AzureError

    if isinstance(exc, AzureError):
        return from_azure_core(exc, where)
    if isinstance(exc, json.JSONDecodeError):  # openai parses a reply's body as it is, unchecked
        return TransientError(f"{where}: Azure sent a malformed reply ({exc})", provider=PROVIDER)
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return InvalidRequest(f"{where}: {exc}", fix=ENDPOINT_FIX, provider=PROVIDER)
    raise exc
