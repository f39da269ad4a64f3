"""botocore's errors, and Bedrock's error codes, as podium's: throttled, transient, timeout, invalid, auth."""

from __future__ import annotations

import re
from typing import Any

from podium.core.errors import (
    AgentFailed,
    AuthError,
    CallTimeout,
    InvalidRequest,
    StepError,
    TransientError,
)
from podium.providers._kit.errors import ErrorTable, retry_after_from

PROVIDER = "bedrock"

CREDENTIALS_FIX = (
    "configure AWS credentials: set providers.bedrock.profile (or AWS_PROFILE) to a profile from"
    " `aws configure` / `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;"
    " the identity needs bedrock:InvokeAgent / bedrock:InvokeModel. To run without AWS, use --emulate"
)
REGION_FIX = (
    "set providers.bedrock.region (e.g. us-east-1), or AWS_REGION, or a region in your AWS profile;"
    " to run without AWS, use --emulate"
)

THROTTLED = {
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
}
TRANSIENT = {
    "InternalServerException",
    "ServiceUnavailableException",
    "BadGatewayException",
    "DependencyFailedException",
    "ModelNotReadyException",
    "ModelErrorException",
    "ModelStreamErrorException",
    "ConflictException",  # InvokeAgent: the session is busy with another call; try again
    "RetryableConflictException",  # InvokeAgentRuntime: the same, as AgentCore says it
    "InternalFailure",
    "ServiceUnavailable",
}
TIMEOUT = {"ModelTimeoutException", "RequestTimeout", "RequestTimeoutException"}
AUTH = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnauthorizedException",
}

TABLE = ErrorTable.of(
    PROVIDER, throttled=THROTTLED, transient=TRANSIENT, timeout=TIMEOUT, auth=AUTH, auth_fix=CREDENTIALS_FIX
)


def _code(exc: Any) -> str:
    """The error code, with an event stream's lowerCamel member name (throttlingException) capitalised."""
    code = str(exc.response.get("Error", {}).get("Code") or "")
    return code[:1].upper() + code[1:]


_AGENT_STATUS = re.compile(r"\b(?:status(?: code)?|error) \(?([1-5][0-9]{2})\b|\(([1-5][0-9]{2})\)", re.I)


def runtime_client_error(message: str, status: int, where: str) -> AgentFailed:
    """AgentCore's RuntimeClientError: the agent in the runtime failed (its container answered an
    error, or none); not the request. Its own status code is named when the message gives it."""
    found = _AGENT_STATUS.search(message)
    agent_status = next((g for g in found.groups() if g), None) if found else None
    said = f"the agent's status {agent_status}" if agent_status else f"HTTP {status or 424}"
    return AgentFailed(
        f"{where}: the runtime's agent failed (RuntimeClientError, {said}): {message}",
        fix="see the runtime's logs in CloudWatch (/aws/bedrock-agentcore/runtimes/…); the agent's"
        " code or container failed, not podium's request",
        provider=PROVIDER,
    )


def from_client_error(exc: Any, where: str) -> StepError:
    """A botocore ClientError (or an event stream's error event) as a podium error."""
    code = _code(exc)
    message = str(exc.response.get("Error", {}).get("Message") or exc)
    metadata = exc.response.get("ResponseMetadata", {})
    status = int(metadata.get("HTTPStatusCode") or 0)
    if code == "RuntimeClientError":
        return runtime_client_error(message, status, where)
    return TABLE.classify(
        f"{where}: {code or status}: {message}",
        status=status,
        code=code,
        retry_after=retry_after_from(metadata.get("HTTPHeaders") or {}),
    )


def to_podium(exc: BaseException, where: str) -> StepError:
    """Any exception from boto3, botocore or urllib3 during a call, as a podium error.

    Connection problems and a broken or cut-off reply are transient; a read timeout is a timeout;
    missing credentials or region, and an unknown profile, say how to configure them.
    """
    if isinstance(exc, StepError):
        return exc
    from botocore import exceptions as bx
    from botocore.eventstream import ParserError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, bx.ClientError):
        return from_client_error(exc, where)
    if isinstance(exc, bx.NoRegionError):
        return InvalidRequest(f"{where}: no AWS region is configured", fix=REGION_FIX, provider=PROVIDER)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AuthError(
            f"{where}: no AWS credentials were found ({exc})", fix=CREDENTIALS_FIX, provider=PROVIDER
        )
    if isinstance(exc, bx.ProfileNotFound):
        return AuthError(f"{where}: {exc}", fix=CREDENTIALS_FIX, provider=PROVIDER)
    token_errors = tuple(
        getattr(bx, name)
        for name in (
            "TokenRetrievalError",
            "SSOTokenLoadError",
            "UnauthorizedSSOTokenError",
            "CredentialRetrievalError",
        )
        if hasattr(bx, name)
    )
    if token_errors and isinstance(exc, token_errors):
        return AuthError(
            f"{where}: the AWS credentials could not be loaded ({exc})",
            fix=CREDENTIALS_FIX,
            provider=PROVIDER,
        )
    if isinstance(exc, bx.ReadTimeoutError):
        return CallTimeout(
            f"{where}: no reply within the read timeout ({exc})",
            fix="raise providers.bedrock.read_timeout if the agent is slow",
            provider=PROVIDER,
        )
    if isinstance(exc, bx.ConnectTimeoutError | bx.EndpointConnectionError | bx.ConnectionClosedError):
        return TransientError(
            f"{where}: cannot reach Bedrock ({exc})",
            fix="check providers.bedrock.region (or AWS_REGION) is a region that serves Bedrock, and"
            " providers.bedrock.endpoint_url, a proxy or the network if you set one",
            provider=PROVIDER,
        )
    if isinstance(exc, bx.HTTPClientError | bx.ResponseStreamingError):
        return TransientError(f"{where}: the connection failed mid-reply ({exc})", provider=PROVIDER)
    if isinstance(exc, ParserError | ResponseParserError):
        return TransientError(f"{where}: Bedrock sent a malformed reply ({exc})", provider=PROVIDER)
    if isinstance(exc, bx.ParamValidationError):
        return InvalidRequest(f"{where}: {exc}", provider=PROVIDER)
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error
    except ImportError:  # pragma: no cover - urllib3 comes with botocore
        Urllib3Error = ()  # type: ignore[assignment,misc]
    if isinstance(exc, Urllib3Error | ConnectionError):
        return TransientError(f"{where}: the reply stream broke off ({exc})", provider=PROVIDER)
    if isinstance(exc, bx.BotoCoreError):
        return TransientError(f"{where}: {exc}", provider=PROVIDER)
    raise exc
