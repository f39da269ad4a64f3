"""Credentials for an A2A agent, as `httpx.Auth`: a bearer token, or each cloud's own signer.

Each cloud's library is imported only when its kind is used, and a missing one names its extra.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import httpx

from podium.core.errors import AuthError, ExtraMissing
from podium.providers.a2a.binding import A2AAuth

PROVIDER = "a2a"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENTRA_SCOPE = "https://ai.azure.com/.default"


def auth_for(auth: A2AAuth | None, agent: str) -> httpx.Auth | None:
    """The `httpx.Auth` that `auth` describes (None: the agent takes no credentials)."""
    if auth is None:
        return None
    if auth.type == "bearer":
        name = auth.token_env or ""
        token = os.environ.get(name)
        if not token:
            raise AuthError(
                f"agents.{agent}.a2a.auth: the environment variable {name} is not set",
                fix=f"export {name}=<the agent's token>",
                provider=PROVIDER,
            )
        return _Bearer(lambda: token)
    if auth.type == "sigv4":
        return _SigV4(auth, agent)
    if auth.type == "google":
        return _Bearer(_google_token(auth.scope or GOOGLE_SCOPE))
    return _Bearer(_entra_token(auth.scope or ENTRA_SCOPE))


class _Bearer(httpx.Auth):
    def __init__(self, token: Any) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


class _SigV4(httpx.Auth):
    """AWS Signature V4 over each request's method, URL, headers and body (botocore's signer)."""

    requires_request_body = True

    def __init__(self, auth: A2AAuth, agent: str) -> None:
        try:
            import botocore.session
            from botocore.auth import SigV4Auth
        except ImportError:
            raise ExtraMissing("sigv4 auth needs botocore", fix="pip install 'podium[bedrock]'") from None
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise AuthError(
                f"agents.{agent}.a2a.auth: no AWS credentials found",
                fix="set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                provider=PROVIDER,
            )
        region = auth.region or session.get_config_variable("region")
        if not region:
            raise AuthError(
                f"agents.{agent}.a2a.auth: sigv4 needs a region",
                fix="add region: to the auth section, or set AWS_REGION",
                provider=PROVIDER,
            )
        self._signer = SigV4Auth(credentials.get_frozen_credentials(), auth.service, region)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.awsrequest import AWSRequest

        signed = AWSRequest(
            method=request.method, url=str(request.url), data=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("connection",)},
        )  # fmt: skip
        self._signer.add_auth(signed)
        for name, value in signed.headers.items():
            request.headers[name] = value
        yield request


def _google_token(scope: str) -> Any:
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        raise ExtraMissing("google auth needs google-auth", fix="pip install 'podium[vertex]'") from None
    credentials, _ = google.auth.default(scopes=[scope])

    def token() -> str:
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        return str(credentials.token)

    return token


def _entra_token(scope: str) -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise ExtraMissing("entra auth needs azure-identity", fix="pip install 'podium[azure]'") from None
    credential = DefaultAzureCredential()
    return lambda: credential.get_token(scope).token
